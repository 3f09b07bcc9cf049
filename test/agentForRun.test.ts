// Code runs only from a module the user names, or one this store recorded when the run was started
// here: never from a module an imported log names. The log here names a module that leaves a marker
// file when it is imported.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { exportRunText, importRun } from '../src/log/exchange/jsonl.ts';
import { SqliteStore } from '../src/log/stores/sqlite/sqliteStore.ts';
import { startRun } from '../src/runtime/startRun.ts';
import { scriptedModel } from '../src/testing/index.ts';
import { agent, input, script } from './fixtures/approval/agent.ts';
import { cli, cliIn, root } from './fixtures/cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'statecraft-agent-for-run-'));
const { statecraft, trace, storeUrl, env } = cliIn(dir);
const marker = join(dir, 'marker');
const named = join(dir, 'theirs', 'agent.mjs');
const exported = join(dir, 'theirs.jsonl');
const AGENT = 'test/fixtures/approval/agent.ts';

const notLoaded = () => assert.not.ok(existsSync(marker), `the module the log names was imported: ${named}`);
/** A fresh copy of the exported run under its own id, waiting on c_write and c_email. */
const imported = async (runId: string) => {
  const result = await statecraft(['import', exported, '--as', runId]);
  assert.is(result.code, 0, result.out);
  return runId;
};
const refused = (result: { code: number | null; out: string }, runId: string, command: string) => {
  notLoaded();
  assert.is(result.code, 2, result.out);
  assert.match(result.out, `Run ${runId} was not started in this store`);
  assert.match(result.out, `the module its log names: ${named}`);
  assert.match(result.out, new RegExp(`statecraft ${command} .*--agent ${named}`));
  assert.match(result.out, `statecraft trust ${runId} --store ${storeUrl} --agent ${named}`);
};

test.before(async () => {
  // Someone else's machine: a run started from a module at a path that, here, holds other code.
  const source = new SqliteStore({ path: join(dir, 'theirs.db') });
  const run = startRun(agent, { input, model: scriptedModel(script), store: source, labels: { module: named } });
  await new Promise<void>((done) => run.on((event) => event.type === 'approval.requested' && done()));
  await run.detach();
  writeFileSync(exported, await exportRunText(source, run.runId));
  await source.close();
  mkdirSync(join(dir, 'theirs'));
  writeFileSync(named, `import { writeFileSync } from 'node:fs';\nwriteFileSync(${JSON.stringify(marker)}, 'imported');\n`);
});

test.before.each(() => rmSync(marker, { force: true }));

test('replay of an imported run loads no module its log names: refused with the commands that name one, and replays with --agent', async () => {
  const runId = await imported('imp-replay');
  refused(await statecraft(['replay', runId]), runId, `replay ${runId}`);
  const replayed = await statecraft(['replay', runId, '--agent', AGENT]);
  assert.is(replayed.code, 0, replayed.out);
  assert.match(replayed.out, 'every patch matches');
  notLoaded();
});

test('resume of an imported run, and of its fork, is refused until a module is named', async () => {
  const runId = await imported('imp-resume');
  refused(await statecraft(['resume', runId, '--approve', 'wait']), runId, `resume ${runId}`);
  const fork = await statecraft(['fork', runId, '--at', '0']);
  assert.is(fork.code, 0, fork.out);
  const forkId = fork.stdout.trim().split('\n')[0]!;
  refused(await statecraft(['resume', forkId, '--approve', 'wait']), forkId, `resume ${forkId}`);
  const resumed = await statecraft(['resume', runId, '--approve', 'wait', '--agent', AGENT]);
  assert.is(resumed.code, 4, `still waiting for its calls: ${resumed.out}`);
  notLoaded();
});

test('approve and reject of an imported run are refused before anything is decided, and work with --agent', async () => {
  const runId = await imported('imp-decide');
  refused(await statecraft(['approve', runId, 'c_write']), runId, `approve ${runId} c_write`);
  refused(await statecraft(['reject', runId, 'c_email', '--reason', 'no']), runId, `reject ${runId} c_email --reason no`);
  assert.equal(trace(), [], 'no tool ran');
  const history = await statecraft(['history', runId, '--json']);
  assert.not.match(history.out, 'APPROVE', 'no decision was recorded');
  const approved = await statecraft(['approve', runId, 'c_write', '--agent', AGENT]);
  assert.is(approved.code, 4, `c_email still waits: ${approved.out}`);
  const rejected = await statecraft(['reject', runId, 'c_email', '--reason', 'Not to outsiders.', '--agent', AGENT]);
  assert.is(rejected.code, 0, rejected.out);
  assert.ok(trace().includes('write report.md'), 'the approved call ran once both were decided');
  assert.not.ok(trace().some((line) => line.startsWith('email')), 'the rejected call never ran');
  notLoaded();
});

test('statecraft trust names the module for an imported run once: later commands and its forks load it without --agent', async () => {
  const runId = await imported('imp-trusted');
  const trusted = await statecraft(['trust', runId, '--agent', AGENT]);
  assert.is(trusted.code, 0, trusted.out);
  assert.match(trusted.out, resolve(root, AGENT));
  const listed = JSON.parse((await statecraft(['runs', '--json'])).stdout) as { runId: string; agentModule?: string }[];
  assert.is(listed.find((run) => run.runId === runId)?.agentModule, resolve(root, AGENT));
  const fork = await statecraft(['fork', runId, '--at', '0']);
  const forkId = fork.stdout.trim().split('\n')[0]!;
  const approved = await statecraft(['approve', runId, 'c_write']);
  assert.is(approved.code, 4, approved.out);
  const resumed = await statecraft(['resume', forkId, '--approve', 'wait']);
  assert.is(resumed.code, 4, `the fork of a trusted run is trusted: ${resumed.out}`);
  assert.is((await statecraft(['trust', runId])).code, 2, '--agent is required: trust names a module, it does not accept the log');
  notLoaded();
});

test('a run started in this store with a relative module path is not loaded from a path that depends on the folder', async () => {
  const store = new SqliteStore({ path: join(dir, 'runs.db') });
  const run = startRun(agent, { input, model: scriptedModel(script), store, labels: { module: AGENT } });
  await new Promise<void>((done) => run.on((event) => event.type === 'approval.requested' && done()));
  await run.detach();
  await store.close();
  const result = await statecraft(['approve', run.runId, 'c_write']);
  assert.is(result.code, 2, result.out);
  assert.match(result.out, `relative module path ${AGENT}`);
  assert.match(result.out, `statecraft trust ${run.runId} --store ${storeUrl} --agent`);
  assert.is((await statecraft(['approve', run.runId, 'c_write', '--agent', AGENT])).code, 4);
});

test('an import never carries over the module the exporting store recorded', async () => {
  const line = readFileSync(exported, 'utf8').split('\n').find((text) => text.startsWith('{"summary"'));
  assert.is((JSON.parse(line!) as { summary: { agentModule?: string } }).summary.agentModule, named, 'the exporting store started the run, and says so');
  const store = new SqliteStore({ path: join(dir, 'api.db') });
  const { runId } = await importRun(store, readFileSync(exported, 'utf8'), { newRunId: 'from-line' });
  assert.is((await store.summary(runId)).agentModule, undefined);
  await store.close();
});

/** `statecraft inspect` on the test's store, with its URL and page token once it listens. */
async function inspector(extra: string[] = []): Promise<{ child: ChildProcess; url: string; token: string }> {
  const child = spawn(process.execPath, [cli, 'inspect', '--port', '0', '--store', storeUrl, ...extra], { cwd: root, env });
  let out = '';
  const url = await new Promise<string>((found, failed) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /Statecraft inspector: (\S+)/.exec(out);
      if (match) found(match[1]!);
    });
    child.stderr!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.once('exit', (code) => failed(new Error(`the inspector exited ${code}: ${out}`)));
  });
  const token = /name="statecraft-token" content="([^"]+)"/.exec(await (await fetch(url)).text())![1]!;
  return { child, url, token };
}

const stop = (child: ChildProcess) =>
  new Promise<void>((done) => {
    child.once('exit', () => done());
    child.kill('SIGINT');
  });

const decideIn = async ({ url, token }: { url: string; token: string }, runId: string, verb: 'approve' | 'reject', body: object) => {
  const response = await fetch(new URL(`/api/runs/${runId}/${verb}`, url), {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-statecraft-token': token },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as { error?: { message: string } } };
};
const approveIn = (inspector: { url: string; token: string }, runId: string, callId: string) => decideIn(inspector, runId, 'approve', { callId });

test("the inspector's Approve on an imported run loads no module its log names, and says how to proceed", async () => {
  const runId = await imported('imp-inspect');
  const plain = await inspector();
  try {
    const answer = await approveIn(plain, runId, 'c_write');
    notLoaded();
    assert.is(answer.status, 400, JSON.stringify(answer.body));
    const message = answer.body.error?.message ?? '';
    assert.match(message, `Run ${runId} was not started in this store`);
    assert.match(message, `the module its log names: ${named}`);
    assert.match(message, /statecraft inspect .*--agent /);
    assert.match(message, `statecraft trust ${runId} --store ${storeUrl} --agent`);
  } finally {
    await stop(plain.child);
  }
  const ran = trace().filter((line) => line === 'write report.md').length;
  const withAgent = await inspector(['--agent', AGENT]);
  try {
    const answer = await approveIn(withAgent, runId, 'c_write');
    assert.is(answer.status, 200, JSON.stringify(answer.body));
    const rejected = await decideIn(withAgent, runId, 'reject', { callId: 'c_email', reason: 'Not to outsiders.' });
    assert.is(rejected.status, 200, JSON.stringify(rejected.body));
    // The approved call runs in the inspector's process once every call is decided.
    for (let i = 0; i < 300 && trace().filter((line) => line === 'write report.md').length === ran; i++) await new Promise((r) => setTimeout(r, 100));
    assert.is(trace().filter((line) => line === 'write report.md').length, ran + 1, 'the approved call ran');
    notLoaded();
  } finally {
    await stop(withAgent.child);
  }
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
