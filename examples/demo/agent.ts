// The demo agent: answers questions about the files of this project with two read-only tools.
// `statecraft run examples/demo/agent.ts` plays `script` on a local scripted model server when no
// OPENAI_API_KEY or OPENAI_BASE_URL is set, and talks to the real endpoint when one is.
import { readdir, readFile } from 'node:fs/promises';
import { relative, resolve, sep } from 'node:path';
import { z } from 'zod';
import { defineAgent, defineTool, priceFor } from '../../src/index.ts';
import type { Script, ScriptRequest } from '../../src/testing/index.ts';

const root = resolve(import.meta.dirname, '../..');

const inside = (path: string) => {
  const full = resolve(root, path);
  if (full !== root && !full.startsWith(root + sep)) throw new Error(`${path} is outside the project folder.`);
  return full;
};

const listFiles = defineTool({
  name: 'list_files',
  description: 'List the files in a folder of the project, recursively, as paths relative to the project root.',
  parameters: z.object({ dir: z.string().describe('Folder relative to the project root, e.g. "examples".') }),
  async execute({ dir }) {
    const entries = await readdir(inside(dir), { recursive: true, withFileTypes: true });
    return entries
      .filter((entry) => entry.isFile())
      .map((entry) => relative(root, resolve(entry.parentPath, entry.name)))
      .sort();
  },
});

const countLines = defineTool({
  name: 'count_lines',
  description: 'Count the lines of one text file of the project.',
  parameters: z.object({ path: z.string().describe('File path relative to the project root.') }),
  async execute({ path }) {
    const text = await readFile(inside(path), 'utf8');
    return { path, lines: text.split('\n').length };
  },
});

export const scriptModel = 'scripted-demo';
const prices = { [scriptModel]: { inputPerMTok: 0.15, outputPerMTok: 0.6 } };

// The model `statecraft run` will call: the scripted one when no endpoint is set, else STATECRAFT_MODEL
// (the port's default, gpt-4o-mini, without it). A local model (Ollama's llama3.1) has no price, and a
// budget that cannot be counted is refused, so the budget applies only to a model with a known price.
// (`statecraft run --model NAME` sets STATECRAFT_MODEL before this module loads.)
const endpoint = Boolean(process.env.OPENAI_API_KEY || process.env.OPENAI_BASE_URL);
const model = endpoint ? process.env.STATECRAFT_MODEL || 'gpt-4o-mini' : scriptModel;
const budget = priceFor(model, prices) ? { maxCostUsd: 0.05 } : {};

export const agent = defineAgent({
  name: 'project-guide',
  version: '1',
  instructions: 'You answer questions about the files of this project. Use the tools; be brief.',
  tools: [listFiles, countLines],
  limits: { maxSteps: 8, ...budget },
  prices,
});

export const input = 'Which example agents does this project ship, and how long is each one?';

const toolResults = (request: ScriptRequest) =>
  request.messages.flatMap((message) => (message.role === 'tool' ? [message] : []));

/** What a model might do: list, count in parallel (one call malformed), fix the bad call, answer. */
export const script: Script = [
  {
    content: 'Let me look at the examples folder.',
    toolCalls: [{ name: 'list_files', arguments: { dir: 'examples' } }],
    usage: { inputTokens: 180, outputTokens: 20 },
  },
  (request) => {
    const files = JSON.parse(toolResults(request).at(-1)!.content) as string[];
    const agents = files.filter((file) => file.endsWith('/agent.ts'));
    return {
      toolCalls: [
        ...agents.map((path) => ({ name: 'count_lines', arguments: { path } })),
        { name: 'count_lines', arguments: '{"file": "README.md"' },
      ],
      usage: { inputTokens: 260, outputTokens: 60 },
    };
  },
  (request) => {
    const error = toolResults(request).find((message) => message.content.includes('could not be parsed'));
    return {
      content: error ? 'My last call was malformed; counting README.md again with the right arguments.' : 'Counting README.md.',
      toolCalls: [{ name: 'count_lines', arguments: { path: 'README.md' } }],
      usage: { inputTokens: 420, outputTokens: 30 },
    };
  },
  (request) => {
    const counts = toolResults(request)
      .map((message) => {
        try {
          return JSON.parse(message.content) as { path?: string; lines?: number };
        } catch {
          return {};
        }
      })
      .filter((result): result is { path: string; lines: number } => typeof result.lines === 'number');
    const agents = counts.filter((c) => c.path.startsWith('examples/'));
    const readme = counts.find((c) => c.path === 'README.md');
    return {
      content:
        `The project ships ${agents.length} example agents:\n${agents.map((c) => `- ${c.path}: ${c.lines} lines`).join('\n')}` +
        (readme ? `\nThe README that explains them has ${readme.lines} lines.` : ''),
      usage: { inputTokens: 520, outputTokens: 80 },
    };
  },
];
