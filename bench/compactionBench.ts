// Input tokens sent over a 200-step, tool-heavy scripted task (two tools a step, about 1.5 KB each),
// through the real openai client against the scripted server, counted with OpenAI's tokenizer as the
// server receives them: without compaction (what an agent that sets nothing sends on gpt-4o-mini: the
// whole conversation while it fits the model's window, then its latest turns), and with compaction (elide old outputs, then summarize) on a
// 16,000-token window. The target: at least 3 times fewer input tokens with compaction, the task still done.
import { z } from 'zod';
import { createOpenAIModel, defineAgent, defineTool, elideToolOutputs, runAgent, summarize } from '../src/index.ts';
import type { CompactionOptions } from '../src/index.ts';
import { tokenCounterFor } from '../src/model/tokenCounter.ts';
import { startScriptedServer, type ScriptRequest } from '../src/testing/index.ts';

const STEPS = 200;
const TARGET = 3;

const output = (tool: string, n: number) => `${tool} result ${n}: ${`field_${n} = value ${n * 7}; `.repeat(90)}`.slice(0, 1_500);
const tools = ['list_files', 'read_file'].map((name) =>
  defineTool({ name, description: `The ${name.replace('_', ' ')} tool.`, parameters: z.object({ n: z.number() }), idempotent: true, execute: ({ n }) => output(name, n) }),
);

interface Outcome { label: string; tokens: number; requests: number; summaries: number; status: string; steps: number }

async function measure(label: string, settings: { maxContextTokens?: number; compaction?: CompactionOptions }): Promise<Outcome> {
  const counter = await tokenCounterFor({ provider: 'openai', model: 'gpt-4o-mini' });
  let tokens = 0;
  let turns = 0;
  let summaries = 0;
  const server = await startScriptedServer((_: number, request: ScriptRequest) => {
    const sent = counter.request(request.messages);
    tokens += sent;
    const usage = { inputTokens: sent, outputTokens: 20 };
    if (request.tools.length === 0) return (summaries++, { content: `Progress: ${turns} steps done, files 1 to ${turns} listed and read.`, usage });
    turns++;
    if (turns >= STEPS) return { content: `Done: ${STEPS - 1} files read.`, usage };
    return { toolCalls: tools.map((tool, i) => ({ id: `c${turns}_${i}`, name: tool.name, arguments: { n: turns } })), usage };
  }, { keepRequests: 1 });
  try {
    const model = createOpenAIModel({ baseURL: server.url, apiKey: 'bench', model: 'gpt-4o-mini' });
    const agent = defineAgent({ name: 'worker', instructions: 'List and read every file, then report.', tools, model, limits: { maxSteps: STEPS + 5 }, ...settings });
    const result = await runAgent(agent, 'Go through the files.');
    return { label, tokens, requests: turns + summaries, summaries, status: result.status, steps: result.steps };
  } finally {
    await server.close();
  }
}

/** The table: input tokens sent with and without compaction, and the ratio beside its target. */
export async function compactionBench(): Promise<string> {
  const without = await measure("without compaction (the model's window: the whole conversation until it is full)", {});
  const dropping = await measure('16k window, no compaction (oldest turns left out, unrecorded)', { maxContextTokens: 16_000 });
  const compacted = await measure('16k window, compaction at 0.8 (elide, then summarize)', {
    maxContextTokens: 16_000,
    compaction: { at: 0.8, target: 0.5, strategy: [elideToolOutputs(), summarize()] },
  });
  const ratio = without.tokens / compacted.tokens;
  const done = compacted.status === 'done' && compacted.steps >= STEPS;
  const row = (o: Outcome) => `| ${o.label} | ${o.tokens.toLocaleString('en-US')} | ${o.requests} (${o.summaries} summaries) | ${o.status}, ${o.steps} steps |`;
  return [
    `Input tokens sent over a ${STEPS}-step scripted task, two tool calls a step (about 1.5 KB each), counted with OpenAI's tokenizer.`,
    '',
    '| configuration | input tokens sent | requests | run |',
    '|---|---|---|---|',
    row(without),
    row(dropping),
    row(compacted),
    '',
    '| figure | measured | target | |',
    '|---|---|---|---|',
    `| input tokens, without ÷ with compaction | ${ratio.toFixed(1)}× | ≥ ${TARGET}× | ${ratio >= TARGET ? 'within' : 'OVER'} |`,
    `| task completes with compaction | ${done ? 'yes' : 'no'} | yes | ${done ? 'within' : 'OVER'} |`,
  ].join('\n');
}
