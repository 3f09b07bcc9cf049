import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createProgress } from '../src/cli/progress.ts';
import { createOpenAIModel, forkRun, history, MemoryStore, resumeRun, runAgent, startRun } from '../src/index.ts';
import type { Agent, RunEvent, RunStore } from '../src/index.ts';
import { scriptedModel, startScriptedServer, type Script, type ScriptStep } from '../src/testing/index.ts';
import * as compose from '../examples/compose/agent.ts';
import * as demo from '../examples/demo/agent.ts';
import * as extend from '../examples/extend/agent.ts';

test('the demo agent lists, counts and recovers from its malformed call', async () => {
  const model = scriptedModel(demo.script, { model: 'scripted-demo' });
  const result = await runAgent(demo.agent, demo.input, { model });
  assert.is(result.status, 'done');
  assert.match(result.output ?? '', /examples\/demo\/agent\.ts: \d+ lines/);
  assert.ok(result.costUsd > 0);
  model.assertDone();
});

test('the demo\'s progress shows its malformed call refused with the reason', async () => {
  const model = scriptedModel(demo.script, { model: 'scripted-demo' });
  const run = startRun(demo.agent, { input: demo.input, model });
  let out = '';
  run.on(createProgress((text) => (out += text), false));
  assert.is((await run.result).status, 'done');
  assert.match(out, /  ✗ count_lines call_\d+: .*could not be parsed as JSON/);
  assert.match(out, /\$0\.\d{4}/, 'the demo model is priced');
});

const root = resolve(import.meta.dirname, '..');
const execute = promisify(execFile);
const noEndpoint = { OPENAI_API_KEY: '', OPENAI_BASE_URL: '', STATECRAFT_MODEL: '' };

/** The demo agent's limits as `statecraft run` would load them with this environment. */
async function demoLimits(env: Record<string, string>) {
  const code = "const { agent } = await import('./examples/demo/agent.ts'); console.log(JSON.stringify(agent.limits));";
  const { stdout } = await execute(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: root, env: { ...process.env, ...noEndpoint, ...env } });
  return JSON.parse(stdout) as { maxSteps: number; maxCostUsd?: number };
}

test('the demo keeps its cost budget for the scripted model and for a model with a known price', async () => {
  assert.equal(await demoLimits({}), { maxSteps: 8, maxCostUsd: 0.05 });
  assert.equal(await demoLimits({ OPENAI_API_KEY: 'sk-test', STATECRAFT_MODEL: 'gpt-4o-mini' }), { maxSteps: 8, maxCostUsd: 0.05 });
  assert.equal(await demoLimits({ OPENAI_API_KEY: 'sk-test' }), { maxSteps: 8, maxCostUsd: 0.05 }, 'the endpoint\u2019s default model, gpt-4o-mini');
});

test('the demo runs on a local model with no known price, without a cost budget, named by STATECRAFT_MODEL or --model', async () => {
  assert.equal(await demoLimits({ OPENAI_BASE_URL: 'http://127.0.0.1:11434/v1', STATECRAFT_MODEL: 'llama3.1' }), { maxSteps: 8 });
  for (const [env, flags] of [[{ STATECRAFT_MODEL: 'llama3.1' }, []], [{}, ['--model', 'llama3.1']]] as const) {
    const server = await startScriptedServer(demo.script);
    const folder = mkdtempSync(join(tmpdir(), 'statecraft-demo-'));
    try {
      const args = [resolve(root, 'bin/statecraft.js'), 'run', 'examples/demo/agent.ts', '--json', '--store', `sqlite:${join(folder, 'runs.db')}`, ...flags];
      const { stdout } = await execute(process.execPath, args, { cwd: root, env: { ...process.env, ...noEndpoint, OPENAI_BASE_URL: server.url, ...env }, timeout: 30_000 });
      const end = JSON.parse(stdout.trim().split('\n').at(-1)!) as { type: string; result: { status: string; costUsd: number } };
      assert.is(end.type, 'end');
      assert.is(end.result.status, 'done', flags.join(' '));
      assert.equal(server.requests.map((request) => (request.body as { model: string }).model).at(-1), 'llama3.1');
    } finally {
      await server.close();
      rmSync(folder, { recursive: true, force: true });
    }
  }
});

test('an extended machine adds a state: the uncited answer is sent back once', async () => {
  const model = scriptedModel(extend.script);
  const result = await runAgent(extend.agent, extend.input, { model });
  assert.is(result.status, 'done');
  assert.match(result.output ?? '', /\[1\]/);
  assert.is(result.steps, 2);
  model.assertDone();
});

/** A module's run as `statecraft run` shows it: its script played on the scripted server, progress as text. */
async function runAsCli(module: { agent: Agent; input: string; script: Script; scriptModel: string }, store?: RunStore) {
  const server = await startScriptedServer(module.script);
  try {
    const model = createOpenAIModel({ baseURL: server.url, apiKey: 'scripted', model: module.scriptModel });
    const run = startRun(module.agent, { input: module.input, model, ...(store ? { store } : {}) });
    let out = '';
    run.on(createProgress((text) => (out += text), false));
    const result = await run.result;
    return { out, result, runId: run.runId };
  } finally {
    await server.close();
  }
}

test('the extended machine\'s nudge state is in the run\'s history and its progress, each model turn on its own line', async () => {
  const store = new MemoryStore();
  const { out, result, runId } = await runAsCli(extend, store);
  assert.is(result.status, 'done');
  assert.equal((await history(store, runId)).map((entry) => entry.state), ['infer', 'nudge', 'done']);
  assert.match(out, /^step 0 · infer · .*\n  model: Delayed transitions are not kept in a persisted snapshot\.\nstep 1 · nudge · [1-9][\d,]* tokens · \$0\.0000\n  model: Delayed/);
  assert.match(out, /done · final_answer · 2 steps · [\d,]+ tokens · \$0\.0000 · \d+\.\d s\n/, 'the scripted model is priced at zero');
  assert.not.match(out, /unknown|no price known/);
});

test('a run resumed while a state of the user\'s own calls the model records that the call is asked again', async () => {
  const store = new MemoryStore();
  const first = await runAgent(extend.agent, extend.input, { model: scriptedModel(extend.script), store });
  const nudged = (await history(store, first.runId)).find((entry) => entry.state === 'nudge')!;
  const forkId = await forkRun(store, first.runId, nudged.seq);
  const model = scriptedModel([(extend.script as readonly ScriptStep[])[1]!]);
  const resumed = await (await resumeRun(extend.agent, forkId, { store, model })).result;
  assert.is(resumed.status, 'done');
  const note = (await store.read(forkId)).find((record) => record.event.type === 'statecraft.resumed');
  assert.equal(note?.event.repeats, { modelCallOfStep: 2 }, 'the second model call, made in nudge, is asked again');
  model.assertDone();
});

test('a machine of your own invokes two agents as children and the runtime runs it', async () => {
  const model = scriptedModel(compose.script);
  const result = await runAgent(compose.agent, compose.input, { model });
  assert.is(result.status, 'done');
  assert.match(result.output ?? '', /^In short: XState v5 persists snapshots/);
  assert.is(result.steps, 3, 'two researcher turns and one writer turn');
  assert.is(model.calls[2]!.messages.filter((m) => m.role === 'system').length, 1);
  model.assertDone();
});

test('the composed run\'s progress counts the invoked agents\' turns and tokens as they are spent, at no cost', async () => {
  const { out, result } = await runAsCli(compose);
  assert.is(result.status, 'done');
  const total = (result.usage.inputTokens + result.usage.outputTokens).toLocaleString('en-US');
  assert.match(out, /^step 0 · research · 0 tokens · \$0\.0000\n/);
  assert.match(out, /\n  model in researcher: XState v5 persists[^\n]*\n[^\n]*\nstep 2 · write · [1-9][\d,]* tokens · \$0\.0000\n  model in writer: In short/);
  assert.match(out, `step 3 · done · ${total} tokens · $0.0000\ndone · final_answer · 3 steps · ${total} tokens · $0.0000 · `);
  assert.not.match(out, /unknown|no price known/);
});

test('the filesystem agent fixes the scratch workspace, with approvals, the sandbox and the tests as fitness', async () => {
  const { cpSync, mkdtempSync, readFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { startRun } = await import('../src/index.ts');
  // The example works in WORKSPACE when it is set, and otherwise copies its template under the working
  // directory (.statecraft/workspaces): given a copy in a temp folder, it writes nothing into the repo.
  const workspace = mkdtempSync(join(tmpdir(), 'statecraft-fs-agent-'));
  cpSync(join(import.meta.dirname, '../examples/filesystem-agent/template'), workspace, { recursive: true });
  const before = process.env.WORKSPACE;
  process.env.WORKSPACE = workspace;
  const fs = await import('../examples/filesystem-agent/agent.ts').finally(() => {
    if (before === undefined) delete process.env.WORKSPACE;
    else process.env.WORKSPACE = before;
  });
  try {
    assert.is(fs.root, workspace, 'the agent works in the temp copy, outside the repo');
    const model = scriptedModel(fs.script, { model: 'scripted-demo' });
    const run = startRun(fs.agent, { input: fs.input, model });
    const asked: string[] = [];
    run.on((event) => {
      if (event.type === 'approval.requested') for (const call of event.calls) setImmediate(() => (asked.push(call.name), run.approve(call.id)));
    });
    const result = await run.result;
    assert.is(result.status, 'done', result.detail);
    assert.match(result.output ?? '', /Both tests pass/);
    assert.equal(asked, ['run_command', 'edit_file', 'run_command'], 'commands and edits wait for approval; reads do not');
    assert.match(readFileSync(join(fs.root, 'src/slugify.js'), 'utf8'), /\[\^a-z0-9\]\+/);
    assert.equal(run.context.fitness?.['tests-pass']?.ok, true);
    model.assertDone();
  } finally {
    rmSync(workspace, { recursive: true, force: true });
  }
});

/** `statecraft <args> --json` in `cwd`, as a user would run it with no model endpoint: its exit code and events. */
async function statecraft(cwd: string, args: string[]) {
  const env: NodeJS.ProcessEnv = { ...process.env, ...noEndpoint };
  delete env.WORKSPACE;
  const { stdout, code } = await execute(process.execPath, [resolve(root, 'bin/statecraft.js'), ...args, '--json'], { cwd, env, timeout: 60_000 }).then(
    (done) => ({ ...done, code: 0 }),
    (error: { stdout: string; code?: unknown }) => {
      if (typeof error.code !== 'number') throw error;
      return { stdout: error.stdout, code: error.code };
    },
  );
  return { code, events: stdout.trim().split('\n').map((line) => JSON.parse(line) as RunEvent) };
}

test('the filesystem agent approved step by step keeps its fix across processes, and a new run starts on a fresh copy', async () => {
  const cwd = mkdtempSync(join(tmpdir(), 'statecraft-fs-cli-'));
  const module = resolve(root, 'examples/filesystem-agent/agent.ts');
  try {
    const started = await statecraft(cwd, ['run', module, '--approve', 'wait']);
    assert.is(started.code, 4, 'waits for approval of the first command');
    const asked = started.events.find((event) => event.type === 'approval.requested');
    assert.ok(asked?.type === 'approval.requested');
    const [call] = asked.calls;
    // Each decision runs in a process of its own, which loads the agent module again.
    const decisions = [
      await statecraft(cwd, ['approve', asked.runId, call!.id, '--hash', call!.argsHash!]),
      await statecraft(cwd, ['approve', asked.runId]),
      await statecraft(cwd, ['approve', asked.runId]),
    ];
    assert.equal(decisions.map((decision) => decision.code), [4, 4, 0]);
    const end = decisions.at(-1)!.events.at(-1);
    assert.ok(end?.type === 'end');
    assert.is(end.result.status, 'done');
    assert.match(end.result.output ?? '', /Both tests pass/);
    assert.match(readFileSync(join(cwd, '.statecraft/workspaces/filesystem-agent/src/slugify.js'), 'utf8'), /\[\^a-z0-9\]\+/, 'the fix stays');

    const again = await statecraft(cwd, ['run', module, '--approve', 'all']);
    assert.is(again.code, 0);
    const edits = again.events.filter((event) => event.type === 'tool.end' && event.tool === 'edit_file');
    assert.equal(edits.map((event) => event.type === 'tool.end' && event.isError), [false], 'the edit applies: the new run works on a fresh copy of the template');
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
});

test.run();
