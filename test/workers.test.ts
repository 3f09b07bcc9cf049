import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PostgresStore, replayRun, UserError } from '../src/index.ts';
import { delay } from '../src/delay.ts';
import { startScriptedServer } from '../src/testing/index.ts';
import { startWorker } from '../src/worker/startWorker.ts';
import { submitRun } from '../src/worker/submitRun.ts';
import type { WorkerEvent } from '../src/worker/workerOptions.ts';
import { dropSchema, freshSchema, storeUrl, summariesWhen } from './fixtures/workers/helpers.ts';

// Workers in this process against a fresh schema of the local PostgreSQL; the model is the scripted
// server on loopback, answering by the conversation. Multi-process crashes are in workersChaos.test.ts.

const root = resolve(import.meta.dirname, '..');
const dir = mkdtempSync(join(tmpdir(), 'statecraft-workers-'));
const effectsFile = join(dir, 'effects.txt');
process.env.EFFECTS_FILE = effectsFile;
const schema = freshSchema('sc_workers');
const url = storeUrl(schema);
/** The first model request of a run named "slow …" is answered after this long; the others at once. */
const SLOW_MS = 1_500;
const server = await startScriptedServer((_index, request) => {
  const task = String(request.messages.find((message) => message.role === 'user')?.content ?? '');
  const first = !request.messages.some((message) => message.role === 'assistant');
  return reply(request, task.startsWith('slow') && first ? SLOW_MS : 30);
});
process.env.MODEL_URL = server.url;
const { agent, approvingAgent, reply, answerFor } = await import('./fixtures/workers/agent.ts');
const store = new PostgresStore({ connectionString: url.split('?')[0], schema });
const exec = promisify(execFile);

const effects = () => (existsSync(effectsFile) ? readFileSync(effectsFile, 'utf8').trim().split('\n').filter(Boolean) : []);
const effectsOf = (runId: string) => effects().filter((line) => line.startsWith(`${runId}:`));
const statecraft = (args: string[]) =>
  exec(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: root, env: { ...process.env, NO_COLOR: '1' }, timeout: 60_000 }).then(
    ({ stdout, stderr }) => ({ code: 0 as number | null, out: stdout + stderr }),
    (error: { code: number | null; stdout: string; stderr: string }) => ({ code: error.code, out: error.stdout + error.stderr }),
  );

test('statecraft submit queues a run that statecraft runs lists as queued, waiting for a worker', async () => {
  const submitted = await statecraft(['submit', 'test/fixtures/workers/agent.ts', '--input', 'cli task', '--json', '--store', url]);
  assert.is(submitted.code, 0, submitted.out);
  const { runId, queue } = JSON.parse(submitted.out.trim().split('\n').at(-1)!) as { runId: string; queue: string };
  assert.is(queue, 'statecraft/fleet-agent@1');
  const listed = await statecraft(['runs', '--store', url]);
  assert.is(listed.code, 0, listed.out);
  const row = listed.out.split('\n').find((line) => line.startsWith(runId));
  assert.ok(row, listed.out);
  assert.match(row!, /\bqueued\b/);
  assert.match(row!, 'waits for a worker');
  assert.is((await store.summary(runId)).status, 'queued');
  assert.is((await store.header(runId)).input, 'cli task');
});

test('worker and submit refuse a store that is not PostgreSQL, saying how to give one', async () => {
  const worker = await statecraft(['worker', '--agents', 'test/fixtures/workers/agent.ts', '--store', `sqlite:${join(dir, 'runs.db')}`]);
  assert.is(worker.code, 2, worker.out);
  assert.match(worker.out, 'statecraft worker needs a PostgreSQL store');
  assert.match(worker.out, '--store postgres://');
  const submit = await statecraft(['submit', 'test/fixtures/workers/agent.ts', '--input', 'x', '--store', 'memory:']);
  assert.is(submit.code, 2, submit.out);
  assert.match(submit.out, 'statecraft submit needs a PostgreSQL store');
  const refused = (promise: Promise<unknown>) => promise.then(() => undefined, (error: Error) => error);
  const onSqlite = await refused(startWorker({ store: `sqlite:${join(dir, 'runs.db')}`, agents: [agent] }));
  assert.instance(onSqlite, UserError);
  const twice = await refused(startWorker({ store: url, agents: [agent, agent] }));
  assert.instance(twice, UserError);
  assert.match(twice!.message, "Two of the worker's agents are fleet-agent@1");
});

test('a worker runs queued runs (the CLI-submitted one too), many at once, to the answers a run that never stopped gives', async () => {
  const runIds: string[] = [];
  for (let i = 0; i < 6; i++) runIds.push((await submitRun(agent, `task ${i}`, { store })).runId);
  const queued = (await store.listRuns({ status: ['queued'] })).map((summary) => summary.runId);
  const events: WorkerEvent[] = [];
  const worker = await startWorker({ store: url, agents: [agent], concurrency: 4, pollMs: 50, onEvent: (event) => events.push(event) });
  const all = [...new Set([...runIds, ...queued])];
  const summaries = await summariesWhen(store, all, (summary) => summary.status === 'done', 30_000);
  await worker.stop();
  assert.ok(summaries.every((summary) => summary.owner === undefined), 'an ended run names no process');
  for (const runId of all) {
    const task = (await store.header(runId)).input as string;
    const last = (await store.read(runId)).at(-1)!;
    assert.is((last.snapshot as { output?: { output?: unknown } }).output?.output, answerFor(task), `run ${runId}`);
    assert.is(effectsOf(runId).length, 2, `run ${runId}: each call of the tool that may not run twice ran once`);
    const report = await replayRun(agent, runId, { store });
    assert.ok(report.ok, `run ${runId} replays without divergence: ${JSON.stringify(report.divergence)}`);
  }
  const taken = events.filter((event) => event.type === 'run.taken');
  assert.is(taken.length, all.length, 'each run taken once');
  assert.ok(events.some((event) => event.type === 'worker.stopped'));
});

test('a worker that lost its lease while waiting on the model writes nothing more and runs no tool; another worker continues the run', async () => {
  const events: WorkerEvent[] = [];
  // A long lease: the worker cannot notice the loss by its own renewals before the model answers, so its append meets the fence.
  const stale = await startWorker({ store: url, agents: [agent], pollMs: 50, leaseMs: 60_000, onEvent: (event) => events.push(event) });
  const { runId } = await submitRun(agent, 'slow stolen', { store });
  await summariesWhen(store, [runId], (summary) => summary.status === 'running' && summary.lastSeq >= 0, 10_000);
  const before = (await store.summary(runId)).lastSeq;
  // As if the worker had frozen past its lease and another had taken the run: the epoch moves on.
  const exec = store.executor();
  await exec.executeSql(`UPDATE "${schema}".run_leases SET owner = 'thief', epoch = epoch + 1, expires_at = now() - interval '1 second' WHERE run_id = $1`, [runId]);
  for (let i = 0; i < 100 && !events.some((event) => event.type === 'lease.lost'); i++) await delay(50);
  const lost = events.find((event) => event.type === 'lease.lost' && event.runId === runId);
  assert.ok(lost, `lease.lost reported: ${JSON.stringify(events.slice(-3))}`);
  assert.match((lost as { detail: string }).detail, "is no longer the run's", 'refused by the store, not noticed by the worker itself');
  assert.is((await store.summary(runId)).lastSeq, before, 'nothing was appended under the lost lease');
  assert.equal(effectsOf(runId), [], 'the tool the model asked for did not run');
  await stale.stop();
  // The thief's lease has expired: a worker reaps it, queues the run again and continues it.
  const next = await startWorker({ store: url, agents: [agent], pollMs: 50, leaseMs: 1_000 });
  const [summary] = await summariesWhen(store, [runId], (s) => s.status === 'done', 30_000);
  await next.stop();
  assert.is(summary!.status, 'done');
  assert.is(effectsOf(runId).length, 2, 'each call of the tool that may not run twice ran once, in the worker that continued the run');
  assert.ok((await replayRun(agent, runId, { store })).ok);
});

test('a draining worker releases its runs at their next model request, and another worker continues them at once', async () => {
  const events: WorkerEvent[] = [];
  // Leases of a minute: only a release, not an expiry, lets the second worker in within the wait below.
  const draining = await startWorker({ store: url, agents: [agent], pollMs: 50, leaseMs: 60_000, graceMs: 20_000, onEvent: (event) => events.push(event) });
  const runIds: string[] = [];
  for (let i = 0; i < 3; i++) runIds.push((await submitRun(agent, `slow drained ${i}`, { store })).runId);
  for (let i = 0; i < 200 && events.filter((event) => event.type === 'run.taken').length < 3; i++) await delay(25);
  assert.is(events.filter((event) => event.type === 'run.taken').length, 3);
  await draining.stop();
  const released = events.filter((event) => event.type === 'run.released').map((event) => (event as { runId: string }).runId);
  assert.equal(released.sort(), [...runIds].sort(), 'every run in flight was released');
  for (const runId of runIds) {
    const summary = await store.summary(runId);
    assert.is(summary.status, 'running', 'a released run is between workers');
    assert.is(summary.owner, undefined, 'and names no process');
  }
  const next = await startWorker({ store: url, agents: [agent], pollMs: 50, leaseMs: 60_000 });
  await summariesWhen(store, runIds, (summary) => summary.status === 'done', 20_000);
  await next.stop();
  for (const runId of runIds) {
    assert.is(effectsOf(runId).length, 2, `run ${runId}: no call of the tool that may not run twice was repeated or lost`);
    assert.ok((await replayRun(agent, runId, { store })).ok);
  }
});

test('a run of an agent version no worker has stays queued; a worker with it runs the run, which waits for approval holding no worker', async () => {
  const old = await startWorker({ store: url, agents: [agent], pollMs: 50 });
  const { runId: later } = await submitRun(approvingAgent, 'task for version 2', { store });
  const { runId: now } = await submitRun(agent, 'task for version 1', { store });
  await summariesWhen(store, [now], (summary) => summary.status === 'done', 20_000);
  await old.stop();
  assert.is((await store.summary(later)).status, 'queued', 'the version 1 worker left the version 2 run alone');
  const events: WorkerEvent[] = [];
  const worker = await startWorker({ store: url, agents: [approvingAgent], pollMs: 50, onEvent: (event) => events.push(event) });
  const [waiting] = await summariesWhen(store, [later], (summary) => summary.status === 'waiting', 20_000);
  for (let i = 0; i < 100 && worker.inFlight > 0; i++) await delay(20);
  assert.is(worker.inFlight, 0, 'a waiting run holds no slot of the worker');
  assert.is(waiting!.owner, undefined, 'and names no process');
  assert.equal((await store.executor().executeSql(`SELECT owner FROM "${schema}".run_leases WHERE run_id = $1`, [later])).rows, [{ owner: null }], 'nor holds a lease');
  assert.ok(events.some((event) => event.type === 'run.ended' && event.runId === later && event.status === 'waiting'));
  // Decided as statecraft approve does: queued for the workers, one of which continues the run.
  const { decideQueued } = await import('../src/index.ts');
  const decided = new Set<string>();
  for (;;) {
    const [summary] = await summariesWhen(store, [later], (summary) => summary.status === 'done' || (summary.status === 'waiting' && (summary.waitingOn as { callId: string }[]).some((call) => !decided.has(call.callId))), 20_000);
    if (summary!.status === 'done') break;
    const calls = (summary!.waitingOn as { callId: string }[]).map((call) => call.callId);
    await decideQueued(store, later, calls.map((callId) => ({ kind: 'approve', callId, by: 'test' })));
    calls.forEach((callId) => decided.add(callId));
  }
  await worker.stop();
  const last = (await store.read(later)).at(-1)!;
  assert.is((last.snapshot as { output?: { output?: unknown } }).output?.output, answerFor('task for version 2'));
  assert.is(events.filter((event) => event.type === 'run.decided' && event.runId === later).length, 2, 'each decision was sent to the run by the worker');
  assert.is(effectsOf(later).length, 2);
});

test('a queued run cancelled before any worker starts it ends cancelled, and a worker that takes its ticket leaves it', async () => {
  const { cancelRun } = await import('../src/index.ts');
  const { runId } = await submitRun(agent, 'task never wanted', { store });
  const outcome = await cancelRun(store, runId, { reason: 'Submitted by mistake.', resume: () => Promise.reject(new Error('a queued run is not resumed to be cancelled')) });
  assert.equal([outcome.how, outcome.summary.status, outcome.summary.reason], ['here', 'cancelled', 'cancelled: Submitted by mistake.']);
  const events: WorkerEvent[] = [];
  const worker = await startWorker({ store: url, agents: [agent], pollMs: 50, onEvent: (event) => events.push(event) });
  const { runId: after } = await submitRun(agent, 'task after it', { store });
  await summariesWhen(store, [after], (summary) => summary.status === 'done', 20_000);
  await worker.stop();
  assert.is((await store.summary(runId)).status, 'cancelled');
  assert.is((await store.summary(runId)).lastSeq, -1, 'no record was written for it');
  assert.not.ok(events.some((event) => event.type === 'run.taken' && event.runId === runId), 'no worker ran it');
  assert.equal(effectsOf(runId), []);
});

test('a ticket taken by a worker that died before it took the lease goes back to the queue when it expires, and the run is run', async () => {
  const { runId } = await submitRun(agent, 'task with an orphaned ticket', { store, ticketExpireSeconds: 1 });
  const { RunQueue, queueName } = await import('../src/worker/runQueue.ts');
  // As a worker killed right after it fetched: the ticket is taken, and neither completed nor its lease taken.
  const dead = await RunQueue.open(store, { supervise: false });
  const taken = await dead.take(queueName(agent), 10);
  await dead.close();
  assert.ok(taken.some((ticket) => ticket.runId === runId), 'the ticket was taken');
  assert.is((await store.summary(runId)).status, 'queued');
  const worker = await startWorker({ store: url, agents: [agent], pollMs: 50, leaseMs: 1_000 });
  await summariesWhen(store, [runId], (summary) => summary.status === 'done', 30_000);
  await worker.stop();
  assert.is(effectsOf(runId).length, 2);
});

test.after(async () => {
  await store.close();
  await server.close();
  await dropSchema(schema);
  rmSync(dir, { recursive: true, force: true });
});

test.run();
