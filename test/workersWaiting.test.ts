import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decideQueued, PostgresStore, replayRun, resumeRun, stateAt } from '../src/index.ts';
import type { AgentContext } from '../src/protocol/agent.ts';
import { delay } from '../src/delay.ts';
import { startScriptedServer } from '../src/testing/index.ts';
import { queueName, RunQueue } from '../src/worker/runQueue.ts';
import { startWorker } from '../src/worker/startWorker.ts';
import { submitRun } from '../src/worker/submitRun.ts';
import type { WorkerEvent } from '../src/worker/workerOptions.ts';
import { dropSchema, freshSchema, storeUrl, summariesWhen } from './fixtures/workers/helpers.ts';

// Runs that wait on people hold no worker: decisions from the CLI are queued for the workers, and
// approval and run deadlines come back as scheduled tickets, even when no worker ran at the time.

const root = resolve(import.meta.dirname, '..');
const dir = mkdtempSync(join(tmpdir(), 'statecraft-waiting-'));
const effectsFile = join(dir, 'effects.txt');
process.env.EFFECTS_FILE = effectsFile;
const schema = freshSchema('sc_waiting');
const url = storeUrl(schema);
/** Model turns after the first of a run named "slow …" are answered after this long. */
const SLOW_MS = 2_000;
const server = await startScriptedServer((_index, request) => {
  const task = String(request.messages.find((message) => message.role === 'user')?.content ?? '');
  const first = !request.messages.some((message) => message.role === 'assistant');
  return reply(request, task.startsWith('slow') && !first ? SLOW_MS : 20);
});
process.env.MODEL_URL = server.url;
const { approvingAgent, expiringAgent, timedAgent, reply, answerFor } = await import('./fixtures/workers/agent.ts');
const store = new PostgresStore({ connectionString: url.split('?')[0], schema });

const effectsOf = (runId: string) => (existsSync(effectsFile) ? readFileSync(effectsFile, 'utf8').split('\n').filter((line) => line.startsWith(`${runId}:`)) : []);

/** Runs the CLI in its own process; resolves with its exit code, output and pid. */
const statecraft = (args: string[]) =>
  new Promise<{ code: number | null; out: string; pid: number }>((done) => {
    const child = execFile(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: root, env: { ...process.env, NO_COLOR: '1' }, timeout: 60_000 }, (error, stdout, stderr) =>
      done({ code: error ? ((error as { code?: number }).code ?? 1) : 0, out: stdout + stderr, pid: child.pid! }),
    );
  });

const eventsOf = async (runId: string) => (await store.read(runId)).map((record) => ({ ...record.event, time: Date.parse(record.time) }) as { type: string; time: number; pid?: number; reason?: string });

const outputOf = (events: WorkerEvent[], runId: string) => {
  const ended = events.find((event) => event.type === 'run.ended' && event.runId === runId && event.status === 'done');
  return ended?.type === 'run.ended' ? ended.output : undefined;
};

/** Waits until the run waits for a decision, on the call `callId` when given. */
async function untilWaiting(runId: string, callId?: string): Promise<void> {
  const on = (waitingOn: unknown) => Array.isArray(waitingOn) && waitingOn.some((call: { callId: string }) => callId === undefined || call.callId === callId);
  await summariesWhen(store, [runId], (summary) => summary.status === 'waiting' && on(summary.waitingOn), 20_000);
}

async function approvalDeadline(runId: string): Promise<number> {
  const { context } = (await stateAt(store, runId, (await store.summary(runId)).lastSeq)) as unknown as { context: AgentContext };
  return context.turn!.approvalDeadlineAt!;
}

test('statecraft approve on a workers\' run queues the decision and returns; a worker continues the run', async () => {
  const events: WorkerEvent[] = [];
  const worker = await startWorker({ store: url, agents: [approvingAgent], pollMs: 50, onEvent: (event) => events.push(event) });
  const { runId } = await submitRun(approvingAgent, 'slow task approved from the CLI', { store });
  await untilWaiting(runId);
  for (let i = 0; i < 100 && worker.inFlight > 0; i++) await delay(20);
  // Only a worker continues it: a process that resumes it itself is refused, and told what to do.
  const resumed = await resumeRun(approvingAgent, runId, { store }).then(() => undefined, (error: Error) => error);
  assert.match(resumed?.message ?? '', /was submitted to the workers, so a worker continues it and this process may not: decide its waiting calls with `npx statecraft approve/);
  const first = await statecraft(['approve', runId, '--by', 'ana', '--store', url]);
  assert.is(first.code, 0, first.out);
  assert.match(first.out, 'one of them continues it');
  // The CLI returned before the run went on: the turn after the decision takes the model two seconds.
  assert.not.ok(['done', 'failed'].includes((await store.summary(runId)).status), 'the CLI did not drive the run to its end');
  await untilWaiting(runId, 'b');
  const second = await statecraft(['approve', runId, 'b', '--by', 'ana', '--store', url]);
  assert.is(second.code, 0, second.out);
  const [summary] = await summariesWhen(store, [runId], (summary) => summary.status === 'done', 20_000);
  await worker.stop();
  assert.is(summary!.status, 'done');
  assert.is(outputOf(events, runId), answerFor('slow task approved from the CLI'));
  assert.is(effectsOf(runId).length, 2, 'each approved call ran once');
  const log = await eventsOf(runId);
  const approvals = log.filter((event) => event.type === 'APPROVE');
  assert.is(approvals.length, 2);
  const resumes = log.filter((event) => event.type === 'statecraft.resumed');
  assert.ok(resumes.length >= 2, 'the run was resumed for each decision');
  assert.ok(resumes.every((event) => event.pid === process.pid), 'by the worker, in this process: never by a CLI process');
  assert.not.ok(resumes.some((event) => event.pid === first.pid || event.pid === second.pid));
  const decided = events.filter((event) => event.type === 'run.decided' && event.runId === runId);
  assert.equal(decided.map((event) => event.type === 'run.decided' && [event.applied, event.refused.length]), [[1, 0], [1, 0]]);
  assert.equal((await store.executor().executeSql(`SELECT count(*)::int AS n FROM "${schema}".run_decisions WHERE run_id = $1`, [runId])).rows, [{ n: 0 }], 'decisions are cleared once recorded');
  assert.ok((await replayRun(approvingAgent, runId, { store })).ok);
});

test('statecraft reject on a workers\' run is continued by a worker, and a decision for other arguments is refused with nothing queued', async () => {
  const events: WorkerEvent[] = [];
  const worker = await startWorker({ store: url, agents: [approvingAgent], pollMs: 50, onEvent: (event) => events.push(event) });
  const { runId } = await submitRun(approvingAgent, 'task rejected from the CLI', { store });
  await untilWaiting(runId, 'c');
  const wrong = await statecraft(['approve', runId, 'c', '--hash', 'not-the-hash', '--store', url]);
  assert.is.not(wrong.code, 0, wrong.out);
  assert.match(wrong.out, 'the decision was made for other arguments');
  assert.equal((await store.executor().executeSql(`SELECT count(*)::int AS n FROM "${schema}".run_decisions WHERE run_id = $1`, [runId])).rows, [{ n: 0 }]);
  const rejected = await statecraft(['reject', runId, 'c', '--reason', 'Not now.', '--store', url]);
  assert.is(rejected.code, 0, rejected.out);
  await untilWaiting(runId, 'b');
  const again = await statecraft(['reject', runId, 'b', '--reason', 'Not this either.', '--store', url]);
  assert.is(again.code, 0, again.out);
  const [summary] = await summariesWhen(store, [runId], (summary) => summary.status === 'done', 20_000);
  await worker.stop();
  assert.is(summary!.status, 'done');
  assert.is(outputOf(events, runId), answerFor('task rejected from the CLI'));
  assert.equal(effectsOf(runId), [], 'no rejected call ran');
  const log = await eventsOf(runId);
  assert.equal(log.filter((event) => event.type === 'REJECT').map((event) => event.reason), ['Not now.', 'Not this either.']);
  assert.ok(events.some((event) => event.type === 'run.decided' && event.runId === runId));
});

test('a queued decision answers the wait it was made for: one left in the queue from before the call was started is dropped, not applied to its next wait', async () => {
  const events: WorkerEvent[] = [];
  const worker = await startWorker({ store: url, agents: [approvingAgent], pollMs: 50, onEvent: (event) => events.push(event) });
  const { runId } = await submitRun(approvingAgent, 'task with a stale decision', { store });
  await untilWaiting(runId, 'c');
  const first = (await store.summary(runId)).lastSeq;
  await decideQueued(store, runId, [{ kind: 'approve', callId: 'c', by: 'ana' }]);
  await untilWaiting(runId, 'b');
  // As a worker that applied a decision and died before clearing it would leave it: an approval of
  // "b" made while the run waited at its first turn, where "b" was a lookup that has run since.
  await store.executor().executeSql(`INSERT INTO "${schema}".run_decisions (run_id, decision) VALUES ($1, $2)`, [runId, JSON.stringify([{ kind: 'approve', callId: 'b', by: 'stale', actor: '', atSeq: first }])]);
  await decideQueued(store, runId, [{ kind: 'reject', callId: 'b', by: 'ana', reason: 'Not this one.' }]);
  await summariesWhen(store, [runId], (summary) => summary.status === 'done', 20_000);
  await worker.stop();
  assert.equal(effectsOf(runId).map((line) => line.split(':').slice(1).join(':')), ['step1:c'], 'the record call of the second turn never ran');
  const decisions = (await eventsOf(runId)).filter((event) => event.type === 'APPROVE' || event.type === 'REJECT');
  assert.equal(decisions.map((event) => [event.type, (event as { callId?: string }).callId, (event as { by?: string }).by]), [['APPROVE', 'c', 'ana'], ['REJECT', 'b', 'ana']]);
  const refused = events.flatMap((event) => (event.type === 'run.decided' && event.runId === runId ? event.refused : []));
  assert.equal(refused.length, 1);
  assert.match(refused[0]!, /the decision on call b made at record \d+ was dropped: record \d+ answered that call since/);
});

test('a worker that resumes a waiting run only to drop its decision lets the run go again, holding no lease', async () => {
  const events: WorkerEvent[] = [];
  const worker = await startWorker({ store: url, agents: [approvingAgent], pollMs: 50, leaseMs: 1_500, onEvent: (event) => events.push(event) });
  const { runId } = await submitRun(approvingAgent, 'task with only a stale decision', { store });
  await untilWaiting(runId, 'c');
  const first = (await store.summary(runId)).lastSeq;
  await decideQueued(store, runId, [{ kind: 'approve', callId: 'c', by: 'ana' }]);
  await untilWaiting(runId, 'b');
  for (let i = 0; i < 100 && worker.inFlight > 0; i++) await delay(20);
  await store.executor().executeSql(`INSERT INTO "${schema}".run_decisions (run_id, decision) VALUES ($1, $2)`, [runId, JSON.stringify([{ kind: 'approve', callId: 'b', by: 'stale', actor: '', atSeq: first }])]);
  const queue = await RunQueue.open(store, { supervise: false });
  await queue.send(queueName(approvingAgent), runId, 0);
  await queue.close();
  for (let i = 0; i < 200 && !events.some((event) => event.type === 'run.decided' && event.runId === runId && event.refused.length > 0); i++) await delay(50);
  // Let go within a lease: waiting again, no lease held, no slot of the worker taken.
  let lease: { owner: string | null } | undefined;
  for (let i = 0; i < 100; i++) {
    lease = (await store.executor().executeSql(`SELECT owner FROM "${schema}".run_leases WHERE run_id = $1`, [runId])).rows[0];
    if (lease?.owner === null && (await store.summary(runId)).status === 'waiting' && worker.inFlight === 0) break;
    await delay(50);
  }
  assert.equal([lease?.owner, (await store.summary(runId)).status, worker.inFlight], [null, 'waiting', 0], 'the run waits again and holds nothing');
  await decideQueued(store, runId, [{ kind: 'reject', callId: 'b', by: 'ana', reason: 'No.' }]);
  await summariesWhen(store, [runId], (summary) => summary.status === 'done', 20_000);
  await worker.stop();
});

test('an approval deadline that passes while no worker runs is applied by a worker started later; with a worker running, at the deadline', async () => {
  const events: WorkerEvent[] = [];
  const first = await startWorker({ store: url, agents: [expiringAgent], pollMs: 50, onEvent: (event) => events.push(event) });
  const { runId } = await submitRun(expiringAgent, 'task nobody decides', { store });
  await untilWaiting(runId);
  const deadline = await approvalDeadline(runId);
  for (let i = 0; i < 100 && first.inFlight > 0; i++) await delay(20);
  await first.stop();
  assert.ok(events.some((event) => event.type === 'run.scheduled' && event.runId === runId && event.wakeAt === deadline), 'a ticket was scheduled for the deadline');
  while (Date.now() < deadline + 500) await delay(50);
  assert.is((await store.summary(runId)).status, 'waiting', 'with no worker, nothing happened at the deadline');
  const later: WorkerEvent[] = [];
  const second = await startWorker({ store: url, agents: [expiringAgent], pollMs: 50, onEvent: (event) => later.push(event) });
  // The default (reject) applies to the first call; the run then waits on the second, whose deadline
  // passes with this worker running, and the run goes on to its answer.
  const [summary] = await summariesWhen(store, [runId], (summary) => summary.status === 'done', 20_000);
  await second.stop();
  assert.is(summary!.status, 'done');
  assert.is(outputOf(later, runId), answerFor('task nobody decides'));
  assert.ok(later.some((event) => event.type === 'run.taken' && event.runId === runId));
  const log = await eventsOf(runId);
  const expired = log.filter((event) => event.type === 'APPROVAL_EXPIRED');
  assert.is(expired.length, 2, 'both approval deadlines were applied');
  assert.ok(expired[0]!.time >= deadline);
  const scheduled = later.filter((event) => event.type === 'run.scheduled' && event.runId === runId).map((event) => (event.type === 'run.scheduled' ? event.wakeAt : 0));
  assert.is(scheduled.length, 1);
  assert.ok(expired[1]!.time >= scheduled[0]!);
  // Woken by its scheduled ticket, not by chance: a loose bound, since the worker polls every 50 ms.
  assert.ok(expired[1]!.time - scheduled[0]! < 3_000, `the second deadline was applied ${expired[1]!.time - scheduled[0]!} ms after it passed`);
  assert.equal(effectsOf(runId), [], 'no call expired without a decision ran');
});

test('a run deadline that passes while the run waits and no worker runs halts the run when a worker starts', async () => {
  const first = await startWorker({ store: url, agents: [timedAgent], pollMs: 50 });
  const { runId } = await submitRun(timedAgent, 'task with a run deadline', { store });
  await untilWaiting(runId);
  for (let i = 0; i < 100 && first.inFlight > 0; i++) await delay(20);
  await first.stop();
  const { context } = (await stateAt(store, runId, (await store.summary(runId)).lastSeq)) as unknown as { context: AgentContext };
  const deadline = context.limits.deadlineAt!;
  while (Date.now() < deadline + 300) await delay(50);
  assert.is((await store.summary(runId)).status, 'waiting');
  const second = await startWorker({ store: url, agents: [timedAgent], pollMs: 50 });
  const [summary] = await summariesWhen(store, [runId], (summary) => summary.status !== 'waiting' && summary.status !== 'running', 20_000);
  await second.stop();
  assert.is(summary!.status, 'halted', summary!.reason);
  assert.ok((await eventsOf(runId)).some((event) => event.type === 'DEADLINE'));
  assert.equal(effectsOf(runId), []);
});

test('a decision through the service is queued for the workers too, and a ticket with nothing to do leaves a waiting run as it was', async () => {
  const { InProcessExecutor } = await import('../src/service/execution/InProcessExecutor.ts');
  const { RunQueue, queueName } = await import('../src/worker/runQueue.ts');
  const events: WorkerEvent[] = [];
  const worker = await startWorker({ store: url, agents: [approvingAgent], pollMs: 50, onEvent: (event) => events.push(event) });
  const { runId } = await submitRun(approvingAgent, 'task decided through the API', { store });
  await untilWaiting(runId);
  for (let i = 0; i < 100 && worker.inFlight > 0; i++) await delay(20);
  const before = await store.summary(runId);
  // A duplicate ticket: no decision queued, no deadline.
  const queue = await RunQueue.open(store, { supervise: false });
  await queue.send(queueName(approvingAgent), runId, 0);
  await queue.close();
  for (let i = 0; i < 100 && (await store.executor().executeSql(`SELECT count(*)::int AS n FROM "${schema}_queue".job WHERE data->>'runId' = $1 AND state = 'created'`, [runId])).rows[0].n > 0; i++) await delay(20);
  await delay(200);
  assert.is((await store.summary(runId)).lastSeq, before.lastSeq, 'the run was not resumed for a ticket with nothing to do');
  assert.is(events.filter((event) => event.type === 'run.taken' && event.runId === runId).length, 1, 'taken once, when it started');

  const executor = new InProcessExecutor(store, [{ agent: approvingAgent }]);
  const call = (before.waitingOn as { callId: string; argsHash: string }[])[0]!;
  await executor.decide(runId, { kind: 'approve', callId: call.callId, argsHash: call.argsHash, by: 'api' });
  await untilWaiting(runId, 'b');
  const next = (await store.summary(runId)).waitingOn as { callId: string; argsHash: string }[];
  await executor.decide(runId, { kind: 'reject', callId: next[0]!.callId, argsHash: next[0]!.argsHash, by: 'api', reason: 'Enough.' });
  await summariesWhen(store, [runId], (summary) => summary.status === 'done', 20_000);
  await worker.stop();
  assert.equal(events.filter((event) => event.type === 'run.decided' && event.runId === runId).length, 2, 'the worker sent both decisions to the run');
  assert.is(outputOf(events, runId), answerFor('task decided through the API'));
  assert.is(effectsOf(runId).length, 1, 'the approved call ran, the rejected one did not');
});

test('the inspector\'s approve button on a workers\' run queues the decision: a worker continues the run, the inspector holds nothing', async () => {
  const { spawn } = await import('node:child_process');
  const events: WorkerEvent[] = [];
  const worker = await startWorker({ store: url, agents: [approvingAgent], pollMs: 50, onEvent: (event) => events.push(event) });
  const { runId } = await submitRun(approvingAgent, 'task approved in the inspector', { store });
  await untilWaiting(runId, 'c');
  const token = 'inspector-token-for-tests';
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'inspect', '--store', url, '--port', '0', '--token', token], { cwd: root, env: { ...process.env, NO_COLOR: '1' } });
  try {
    let out = '';
    const link = await new Promise<string>((found, failed) => {
      child.stdout.on('data', (chunk) => {
        out += chunk;
        const match = /Statecraft inspector: (http:\/\/[^\s#]+)/.exec(out);
        if (match) found(match[1]!);
      });
      child.once('exit', (code) => failed(new Error(`statecraft inspect exited ${code}: ${out}`)));
    });
    const origin = new URL(link).origin;
    const decide = (verb: string, body: unknown) =>
      fetch(`${origin}/api/runs/${runId}/${verb}`, { method: 'POST', headers: { 'content-type': 'application/json', origin, 'x-statecraft-token': token }, body: JSON.stringify(body) });
    const approved = await decide('approve', { callId: 'c', by: 'inspector-user' });
    assert.is(approved.status, 200, await approved.text());
    await untilWaiting(runId, 'b');
    const rejected = await decide('reject', { callId: 'b', reason: 'Not from here.', by: 'inspector-user' });
    assert.is(rejected.status, 200, await rejected.text());
    await summariesWhen(store, [runId], (summary) => summary.status === 'done', 20_000);
  } finally {
    child.kill('SIGTERM');
  }
  await worker.stop();
  assert.is(events.filter((event) => event.type === 'run.decided' && event.runId === runId).length, 2, 'the worker sent both decisions to the run');
  const resumes = (await eventsOf(runId)).filter((event) => event.type === 'statecraft.resumed');
  assert.ok(resumes.length >= 2 && resumes.every((event) => event.pid === process.pid), 'resumed by the worker only, never by the inspector process');
  assert.is(effectsOf(runId).length, 1);
});

test.after(async () => {
  await store.close();
  await server.close();
  await dropSchema(schema);
  rmSync(dir, { recursive: true, force: true });
});

test.run();
