// The filesystem agent: reads, searches and edits files and runs commands in one workspace folder,
// with writes and commands waiting for approval, commands in a bubblewrap sandbox, and the
// workspace's own tests as a fitness function evaluated after every change.
//
//   statecraft run examples/filesystem-agent/agent.ts --approve all      # scratch workspace, scripted model
//   WORKSPACE=~/code/my-project TEST_COMMAND="npm test" OPENAI_API_KEY=sk-... \
//     statecraft run examples/filesystem-agent/agent.ts --input "Fix the failing test"
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { defineAgent, defineFitness, defineTool, filesystemTools, runSandboxed } from '../../src/index.ts';
import type { Script, ScriptRequest } from '../../src/testing/index.ts';

const scratch = resolve('.statecraft', 'workspaces', 'filesystem-agent');
// The run the scratch copy belongs to, kept beside it rather than in it, where the agent would see it.
const owner = `${scratch}.run`;

/** The folder the agent works in: WORKSPACE, or a scratch copy of the template project. */
export const root = process.env.WORKSPACE ? resolve(process.env.WORKSPACE) : scratch;
// The tools need the folder to exist when they are made; a run fills it on its first tool call.
if (root === scratch) mkdirSync(scratch, { recursive: true });

let claimedBy: string | undefined;

/**
 * Gives a run that has not worked in the scratch copy yet a fresh one. Not done on load: the CLI loads
 * this module again for every `approve` and `resume` (and replay, the inspector), and a run going on
 * in a new process must find its own edits. A run resumed after another run took the copy gets a
 * fresh one too: there is one scratch copy, and the latest run to use it owns it.
 */
function claimScratch(runId: string) {
  if (root !== scratch || claimedBy === runId) return;
  if (!existsSync(owner) || readFileSync(owner, 'utf8') !== runId) {
    // The owner is removed first and written last, so that a copy a crash cut short is made again.
    rmSync(owner, { force: true });
    rmSync(scratch, { recursive: true, force: true });
    cpSync(resolve(import.meta.dirname, 'template'), scratch, { recursive: true });
    writeFileSync(owner, runId);
  }
  claimedBy = runId;
}

const testCommand = process.env.TEST_COMMAND ?? 'node --test';

/** The workspace's tests pass: measured in the same sandbox the agent's commands run in. */
const testsPass = defineFitness({
  name: 'tests-pass',
  description: `\`${testCommand}\` exits 0 in the workspace`,
  after: ['write_file', 'edit_file'],
  onBreach: process.env.ON_TEST_FAILURE === 'halt' ? 'halt' : 'tell-model',
  measure: async ({ runId, signal }) => {
    claimScratch(runId);
    const result = await runSandboxed({ command: testCommand, cwd: root, workspaceRoot: root, signal, timeoutMs: 120_000 });
    const failing = /# fail (\d+)/.exec(result.stdout)?.[1];
    return { value: result.exitCode === 0, detail: result.exitCode === 0 ? 'tests pass' : `\`${testCommand}\` exited ${result.exitCode}${failing ? ` with ${failing} failing test(s)` : ''}` };
  },
});

export const agent = defineAgent({
  name: 'filesystem-agent',
  version: '1',
  instructions:
    'You are a careful engineer working in a project folder. Look before you change anything, make the ' +
    'smallest precise edit that solves the task, and run the tests to confirm. Paths are relative to the project root.',
  tools: filesystemTools({ root, allowCommands: true }).map((tool) =>
    defineTool({ ...tool, execute: (args, ctx) => (claimScratch(ctx.runId), tool.execute(args, ctx)) }),
  ),
  grants: ['read', 'write', 'command'],
  fitness: [testsPass],
  limits: { maxSteps: 30, maxCostUsd: 1 },
  prices: { 'scripted-demo': { inputPerMTok: 0.15, outputPerMTok: 0.6 } },
});

export const input = 'The slugify tests fail. Find out why and fix src/slugify.js.';

const lastTool = (request: ScriptRequest, name: string) =>
  [...request.messages].reverse().find((message) => message.role === 'tool' && message.name === name)?.content ?? '';

/** What a model might do: look, run the tests, read the code, fix it with a precise edit, check, report. */
export const script: Script = [
  { content: 'Let me look at the project and run its tests.', toolCalls: [{ name: 'list_files', arguments: { path: '.', recursive: true } }, { name: 'run_command', arguments: { command: 'node --test' } }] },
  { toolCalls: [{ name: 'read_file', arguments: { path: 'src/slugify.js' } }] },
  {
    content: 'Only single spaces become dashes; runs of spaces and punctuation are kept. I will replace every run of non-alphanumerics with one dash and trim dashes at the ends.',
    toolCalls: [
      {
        name: 'edit_file',
        arguments: {
          path: 'src/slugify.js',
          old_text: "return title.toLowerCase().trim().replace(/ /g, '-');",
          new_text: "return title.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');",
        },
      },
    ],
  },
  { toolCalls: [{ name: 'run_command', arguments: { command: 'node --test' } }] },
  (request) => ({
    content: /# fail 0/.test(lastTool(request, 'run_command'))
      ? 'Fixed: slugify now turns every run of spaces and punctuation into one dash and trims dashes at the ends. Both tests pass.'
      : `The tests still fail:\n${lastTool(request, 'run_command').slice(0, 500)}`,
  }),
];

export const scriptModel = 'scripted-demo';
