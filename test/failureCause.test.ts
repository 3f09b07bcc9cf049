// Why a run failed or halted is on record, in the words a user needs, wherever the run is looked at:
// `runs`, `runs --json`, `show` and the inspector; and progress shows every tool failure and decision.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fromPromise, setup } from 'xstate';
import { z } from 'zod';
import { defineAgent, defineTool, startRun, type RunEvent } from '../src/index.ts';
import { startInspector } from '../src/inspector/startInspector.ts';
import { openStore } from '../src/log/stores/openStore.ts';
import { scriptedModel } from '../src/testing/index.ts';
import { cli, cliIn, root } from './fixtures/cli.ts';
import { pairAgent } from './fixtures/pair/agent.ts';

const dir = mkdtempSync(join(tmpdir(), 'statecraft-failure-cause-'));
const { storeUrl, env, trace } = cliIn(dir);
const AGENT = 'test/fixtures/failures/agent.ts';

test.after(() => rmSync(dir, { recursive: true, force: true }));

/** The CLI with MODE set for the fixture agent: exit code, stdout and stderr. */
const statecraft = (args: string[], mode: string, extra: Record<string, string> = {}) =>
  new Promise<{ code: number | null; stdout: string; out: string }>((resolve) => {
    const child = spawn(process.execPath, [cli, ...args, '--store', storeUrl], { cwd: root, env: { ...env, MODE: mode, ...extra }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('close', (code) => resolve({ code, stdout, out: stdout + stderr }));
  });

const runIdOf = (out: string) => /run ([0-9a-f-]{36}) · agent/.exec(out)?.[1] ?? /"runId":"([0-9a-f-]{36})"/.exec(out)?.[1];

/** The reason of a run as `runs`, `runs --json`, `show` and the inspector give it. */
async function views(runId: string) {
  const table = (await statecraft(['runs'], '')).stdout.split('\n').find((line) => line.startsWith(runId)) ?? '';
  const json = (JSON.parse((await statecraft(['runs', '--json'], '')).stdout) as { runId: string; reason?: string }[]).find((run) => run.runId === runId);
  const show = (await statecraft(['show', runId], '')).stdout;
  const store = openStore(storeUrl);
  const inspector = await startInspector({ store });
  try {
    const page = (await (await fetch(new URL(`/api/runs/${runId}`, inspector.url))).json()) as { summary: { reason?: string } };
    return { table, json: json?.reason as string, show, inspector: page.summary.reason ?? '' };
  } finally {
    await inspector.close();
    await store.close();
  }
}

function assertEveryView(seen: Awaited<ReturnType<typeof views>>, pattern: RegExp) {
  for (const [view, text] of Object.entries(seen)) assert.match(text, pattern, `${view} gives the cause:\n${text}`);
}

test('a machine of its own that stops with an error it does not handle records that error as the reason', async () => {
  const machine = setup({ actors: { fetchData: fromPromise<string>(async () => Promise.reject(new TypeError('fetch failed: ECONNRESET'))) } }).createMachine({
    id: 'fetcher',
    initial: 'fetching',
    states: { fetching: { invoke: { id: 'fetchData', src: 'fetchData', onDone: 'done' } }, done: { type: 'final' } },
  });
  const store = openStore('memory:');
  const run = startRun(defineAgent({ name: 'fetcher', machine: machine as never }), { input: 'go', model: scriptedModel([]), store });
  const result = await run.result;
  assert.is(result.detail, 'The agent machine stopped with an error: TypeError: fetch failed: ECONNRESET');
  const summary = await store.summary(run.runId);
  assert.is(summary.status, 'failed');
  assert.is(summary.reason, 'error: The agent machine stopped with an error: TypeError: fetch failed: ECONNRESET');
});

test('decisions in an invoked agent and by an approval deadline are told once each, naming who decided', async () => {
  const pair = startRun(pairAgent(() => {}), {
    input: 'go',
    model: scriptedModel((_index, request) =>
      request.messages.some((m) => m.role === 'assistant') ? { content: 'done' } : { toolCalls: [{ id: 'p1', name: 'publish', arguments: { text: 'x' } }] },
    ),
  });
  const told: RunEvent[] = [];
  pair.on((event) => {
    if (event.type === 'tool.decided') told.push(event);
    if (event.type === 'approval.requested') for (const call of event.calls) pair.approve(call.id, { actor: call.actor!, by: `ana for ${call.actor}` });
  });
  await pair.result;
  assert.equal(
    told.map((event) => event.type === 'tool.decided' && `${event.actor} ${event.callId} ${event.decision} by ${event.by}`).sort(),
    ['editor p1 approved by ana for editor', 'writer p1 approved by ana for writer'],
  );

  const slow = defineTool({ name: 'publish', description: 'Publish.', parameters: z.object({ text: z.string() }), needsApproval: true, execute: () => 'published' });
  const expiring = startRun(defineAgent({ name: 'expiring', tools: [slow], approval: { timeoutMs: 1, onTimeout: 'reject' } }), {
    input: 'go',
    model: scriptedModel([{ toolCalls: [{ id: 'e1', name: 'publish', arguments: { text: 'x' } }] }, { content: 'ok' }]),
  });
  const expired: RunEvent[] = [];
  expiring.on((event) => event.type === 'tool.decided' && expired.push(event));
  await expiring.result;
  assert.equal(
    expired.map((event) => event.type === 'tool.decided' && [event.callId, event.decision, event.by, event.reason]),
    [['e1', 'rejected', 'approval deadline', 'No one approved tool call e1 (publish) before the approval deadline, so it was not run.']],
  );
});

test('a failed model call: every view gives the provider\'s status and message, not "Actor callModel failed."', async () => {
  const run = await statecraft(['run', AGENT], 'model');
  assert.is(run.code, 1, run.out);
  const seen = await views(runIdOf(run.out)!);
  assertEveryView(seen, /HTTP 400 .*maximum context length is 8192 tokens/);
  for (const [view, text] of Object.entries(seen)) assert.not.match(text, /Actor callModel failed/, view);
  assert.is(run.out.match(/maximum context length/g)?.length, 1, `the terminal says it once:\n${run.out}`);
});

test('an invoked agent that fails or halts: every view names the agent and gives the cause', async () => {
  const failed = await statecraft(['run', AGENT], 'compose');
  assert.is(failed.code, 1, failed.out);
  assertEveryView(await views(runIdOf(failed.out)!), /researcher.*HTTP 400 .*maximum context length is 8192 tokens/);
  const halted = await statecraft(['run', AGENT], 'compose-halt');
  assert.is(halted.code, 3, halted.out);
  assertEveryView(await views(runIdOf(halted.out)!), /step_limit: .*researcher.*Step limit reached: 5 of 5 model turns/);
});

test('a tool that fails the run on resume: every view says which call never finished and why the run stopped', async () => {
  const child = spawn(process.execPath, [cli, 'run', AGENT, '--store', storeUrl], { cwd: root, env: { ...env, MODE: 'hang' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const end = Date.now() + 60_000;
  while (!trace().includes('hang started') && Date.now() < end) await new Promise((resolve) => setTimeout(resolve, 50));
  child.kill('SIGKILL');
  await new Promise((resolve) => child.on('close', resolve));
  const runId = runIdOf(out)!;
  assert.ok(runId, out);
  const resumed = await statecraft(['resume', runId], 'hang');
  assert.is(resumed.code, 1, resumed.out);
  assertEveryView(await views(runId), /c_hang \(hang\) .*never finished.*onResume: 'fail'/);
});

test('progress prints a failed tool\'s error on one line, and every decision: allowed by policy, approved, rejected', async () => {
  const approved = await statecraft(['run', AGENT, '--approve', 'all'], 'tools');
  assert.is(approved.code, 0, approved.out);
  assert.match(approved.out, /✗ send_email c_send \d+ ms: SMTP refused: mailbox full \(at the relay\)\n/);
  assert.match(approved.out, /✓ lookup c_look allowed by policy \(tool lookup\)\n/);
  assert.match(approved.out, /✓ publish c_pub approved by cli --approve all\n/);

  const rejected = await statecraft(['run', AGENT, '--approve', 'none'], 'tools');
  assert.is(rejected.code, 0, rejected.out);
  assert.match(rejected.out, /✗ publish c_pub rejected by cli --approve none: Not approved: the operator rejects every call in this run \(--approve none\)\.\n/);

  const waiting = await statecraft(['run', AGENT, '--approve', 'wait'], 'tools');
  assert.is(waiting.code, 4, waiting.out);
  const later = await statecraft(['reject', runIdOf(waiting.out)!, 'c_pub', '--reason', 'Not today.', '--by', 'ana'], 'tools');
  assert.is(later.code, 0, later.out);
  assert.match(later.out, /✗ publish c_pub rejected by ana: Not today\.\n/);
});

test('--json carries the same: the failed tool\'s error and every decision as events', async () => {
  const run = await statecraft(['run', AGENT, '--approve', 'all', '--json'], 'tools');
  assert.is(run.code, 0, run.out);
  const events = run.stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line));
  const failedTool = events.find((event) => event.type === 'tool.end' && event.callId === 'c_send');
  assert.is(failedTool?.error, 'SMTP refused: mailbox full (at the relay)');
  const decisions = events.filter((event) => event.type === 'tool.decided').map(({ callId, decision, by }) => ({ callId, decision, by }));
  assert.equal(decisions, [
    { callId: 'c_look', decision: 'allowed', by: 'tool lookup' },
    { callId: 'c_pub', decision: 'approved', by: 'cli --approve all' },
  ]);
});

test.run();
