import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createActor, createMachine } from 'xstate';
import { z } from 'zod';
import { ConflictError, defineAgent, defineTool, RunInUseError, startRun, type ModelPort, type RunSummary } from '../src/index.ts';
import { SqliteStore } from '../src/log/stores/sqlite/sqliteStore.ts';
import { Recorder } from '../src/recorder/Recorder.ts';
import { liveOwner, newOwner, OWNER_EXPIRES_MS, releaseOwner } from '../src/recorder/owner.ts';
import { resumeRun } from '../src/runtime/resumeRun.ts';
import { Run } from '../src/runtime/Run.ts';
import { scriptedModel } from '../src/testing/index.ts';
import { delay } from '../src/delay.ts';
import { cliIn } from './fixtures/cli.ts';
import { agent } from './fixtures/owner/agent.ts';

const dir = mkdtempSync(join(tmpdir(), 'statecraft-owner-'));
let n = 0;
const freshStore = () => new SqliteStore({ path: join(dir, `runs-${n++}.db`) });

/** A model whose first call hangs until released (or aborted), then answers. */
function heldModel() {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const model: ModelPort = {
    info: { provider: 'test', model: 'held', params: {} },
    complete: async (request) => {
      await Promise.race([released, new Promise((_, reject) => request.signal?.addEventListener('abort', () => reject(new Error('aborted'))))]);
      return { message: { role: 'assistant', content: 'done' }, usage: { inputTokens: 1, outputTokens: 1 }, finishReason: 'stop', model: 'held' };
    },
  };
  return { model, release };
}

/** Waits until the store's summary of the run satisfies `check`. */
async function summaryWhen(store: SqliteStore, runId: string, check: (summary: RunSummary) => boolean): Promise<RunSummary> {
  for (let i = 0; i < 200; i++) {
    const summary = await store.summary(runId).catch(() => undefined);
    if (summary && check(summary)) return summary;
    await delay(10);
  }
  throw new Error(`run ${runId} never reached the expected summary`);
}

const summaryOf = (extra: Partial<RunSummary>): RunSummary => ({
  runId: 'r',
  agentId: 'a',
  status: 'running',
  steps: 0,
  inputTokens: 0,
  outputTokens: 0,
  costUsd: 0,
  lastSeq: 3,
  createdAt: new Date().toISOString(),
  updatedAt: new Date().toISOString(),
  ...extra,
});

test('a running run names the process it runs in, and the name is cleared when it ends', async () => {
  const store = freshStore();
  const { model, release } = heldModel();
  const run = startRun(agent, { input: 'go', model, store });
  const running = await summaryWhen(store, run.runId, (summary) => summary.lastSeq >= 0);
  assert.is(running.status, 'running');
  assert.is(running.owner?.host, hostname());
  assert.is(running.owner?.pid, process.pid);
  assert.type(running.owner?.id, 'string');
  release();
  assert.is((await run.result).status, 'done');
  const ended = await store.summary(run.runId);
  assert.is(ended.status, 'done');
  assert.is(ended.owner, undefined, 'an ended run names no owner');
  await store.close();
});

test('resuming a run another Run is running is refused with an error naming that process; takeOver continues it and the other is overtaken', async () => {
  const store = freshStore();
  const { model } = heldModel();
  const first = startRun(agent, { input: 'go', model, store });
  await summaryWhen(store, first.runId, (summary) => summary.owner !== undefined);
  const refused = await resumeRun(agent, first.runId, { store, model: scriptedModel([{ content: 'again' }]) }).then(
    () => undefined,
    (error: Error) => error,
  );
  assert.instance(refused, RunInUseError);
  assert.match(refused!.message, `Run ${first.runId} is running in another process (pid ${process.pid} on ${hostname()}`);
  assert.match(refused!.message, `statecraft resume ${first.runId} --take-over`);
  const firstFailed = first.result.then(
    () => undefined,
    (error: Error) => error,
  );
  const taken = await resumeRun(agent, first.runId, { store, model: scriptedModel([{ content: 'taken over' }]), takeOver: true });
  const result = await taken.result;
  assert.is(result.status, 'done');
  assert.is(result.output, 'taken over');
  // The first still waits on its model; cancelling it makes it write, and it finds the run continued.
  first.cancel('test');
  const error = await firstFailed;
  assert.match(error?.message ?? '', 'was continued by another process');
  assert.is((await store.summary(first.runId)).status, 'done');
  await store.close();
});

test('a run whose process is gone on this machine can be resumed at once', async () => {
  const store = freshStore();
  const { model } = heldModel();
  const run = startRun(agent, { input: 'go', model, store });
  const claimed = await summaryWhen(store, run.runId, (summary) => summary.owner !== undefined);
  assert.equal(liveOwner(claimed), claimed.owner, 'claimed by this live process');
  // As a crash would leave it: the claim names a process that ran and exited.
  const gone = spawnSync(process.execPath, ['-e', '']).pid!;
  await store.append(run.runId, [], { expectedSeq: claimed.lastSeq + 1, summary: { owner: { ...claimed.owner!, pid: gone } } });
  const crashed = await store.summary(run.runId);
  assert.is(liveOwner(crashed), undefined, 'a dead pid on this host');
  const resumed = await resumeRun(agent, run.runId, { store, model: scriptedModel([{ content: 'resumed' }]) });
  assert.is((await resumed.result).output, 'resumed');
  run.cancel('test');
  await run.result.catch(() => undefined);
  await store.close();
});

test('a claim from another machine holds until it is 30 s old', () => {
  const now = Date.now();
  const owner = { host: `not-${hostname()}`, pid: 1, id: 'x' };
  assert.ok(liveOwner(summaryOf({ owner, updatedAt: new Date(now - 1000).toISOString() }), now));
  assert.is(liveOwner(summaryOf({ owner, updatedAt: new Date(now - OWNER_EXPIRES_MS - 1).toISOString() }), now), undefined);
  assert.is(liveOwner(summaryOf({ owner, status: 'waiting' }), now), undefined, 'a waiting run belongs to no process');
  assert.is(liveOwner(summaryOf({}), now), undefined, 'a run recorded before owners were');
});

test('a claim of this process holds until the run it was made for settles', () => {
  const owner = newOwner();
  assert.equal(liveOwner(summaryOf({ owner })), owner);
  releaseOwner(owner);
  assert.is(liveOwner(summaryOf({ owner })), undefined);
});

test('the recorder renews the claim while nothing else is written, and stops when closed', async () => {
  const store = freshStore();
  const runId = 'renewed';
  const owner = newOwner();
  const recorder = new Recorder({ store, runId, owner, renewEveryMs: 30 });
  await recorder.begin({
    format: 1,
    runId,
    agent: { id: 'a', version: '1' },
    machine: { id: 'm', hash: 'h' },
    model: { provider: 'test', model: 'm', params: {} },
    createdAt: new Date().toISOString(),
  });
  const actor = createActor(createMachine({ id: 'm', initial: 'a', states: { a: {} } })).start();
  recorder.record(actor, { type: 'xstate.init' });
  await recorder.durable();
  const first = await store.summary(runId);
  assert.equal(first.owner, owner);
  const renewed = await summaryWhen(store, runId, (summary) => summary.updatedAt > first.updatedAt);
  assert.is(renewed.lastSeq, 0, 'a renewal writes no record');
  assert.equal(renewed.owner, owner);
  recorder.close();
  await recorder.durable();
  const closed = (await store.summary(runId)).updatedAt;
  await delay(120);
  assert.is((await store.summary(runId)).updatedAt, closed, 'no renewal after close');
  actor.stop();
  await store.close();
});

test('statecraft resume of a run another process is running exits 2 with what to do', async () => {
  const cliDir = mkdtempSync(join(dir, 'cli-'));
  const { statecraft, storeUrl } = cliIn(cliDir);
  const store = new SqliteStore({ path: storeUrl.slice('sqlite:'.length) });
  const { model } = heldModel();
  const run = startRun(agent, { input: 'go', model, store, labels: { module: join(import.meta.dirname, 'fixtures/owner/agent.ts') } });
  await summaryWhen(store, run.runId, (summary) => summary.owner !== undefined);
  const result = await statecraft(['resume', run.runId.slice(0, 8)]);
  assert.is(result.code, 2, result.out);
  assert.match(result.out, `is running in another process (pid ${process.pid}`);
  assert.match(result.out, '--take-over');
  // A second run, whose process is gone: its claim names a pid that no longer exists. It is recorded
  // here with no renewal, as a Run of this process would renew its claim under the forged one.
  const gone = spawnSync(process.execPath, ['-e', '']).pid!;
  const orphan = { runId: 'orphaned-run' };
  const recorder = new Recorder({ store, runId: orphan.runId, owner: { host: hostname(), pid: gone, id: 'gone' }, renewEveryMs: 3_600_000 });
  await recorder.begin({ ...(await store.header(run.runId)), runId: orphan.runId, createdAt: new Date().toISOString() });
  const held = createActor(createMachine({ id: 'm', initial: 'a', states: { a: {} } })).start();
  recorder.record(held, { type: 'xstate.init' });
  await recorder.durable();
  const listing = await statecraft(['runs']);
  assert.is(listing.code, 0, listing.out);
  const line = (runId: string) => listing.out.split('\n').find((row) => row.startsWith(runId)) ?? '';
  assert.match(line(run.runId), `in pid ${process.pid}`);
  assert.match(line(orphan.runId), `no process runs it (its process stopped: it crashed or was killed): npx statecraft resume ${orphan.runId.slice(0, 8)}`);
  // --take-over continues the run in the CLI's process; this one, when it next writes, finds it continued.
  const taken = await statecraft(['resume', run.runId, '--take-over']);
  assert.is(taken.code, 0, taken.out);
  assert.match(taken.out, 'finished by the process that took over');
  assert.is((await store.summary(run.runId)).status, 'done');
  run.cancel('test');
  await run.result.catch(() => undefined);
  recorder.close();
  held.stop();
  await store.close();
});

/** An agent whose one tool waits for approval, and a run of it waiting for that decision in `store`. */
async function waitingRun(store: SqliteStore, ran: string[]) {
  const send = defineTool({ name: 'send', description: 'Send.', parameters: z.object({ to: z.string() }), needsApproval: true, execute: ({ to }) => (ran.push(to), `sent to ${to}`) });
  const approving = defineAgent({ name: 'approval-race', tools: [send] });
  const run = startRun(approving, { input: 'go', model: scriptedModel([{ toolCalls: [{ id: 'c1', name: 'send', arguments: { to: 'ana' } }] }]), store });
  await new Promise<void>((resolve) => run.on((event) => event.type === 'approval.requested' && resolve()));
  await run.detach();
  // The model a process continuing the run answers with, once the call is decided.
  return { agent: approving, runId: run.runId, model: () => scriptedModel([{ content: 'sent' }]) };
}

test('a waiting run resumed by one process is refused to a second, which writes nothing: one resume, one decision in the log', async () => {
  const path = join(dir, `race-${n++}.db`);
  const first = new SqliteStore({ path });
  const second = new SqliteStore({ path });
  const ran: string[] = [];
  const { agent: approving, runId, model } = await waitingRun(first, ran);
  const waitedAt = (await first.summary(runId)).lastSeq;
  // One process resumes the run to approve its call; its resume is written before it decides.
  const deciding = await resumeRun(approving, runId, { store: first, model: model() });
  await deciding.durable();
  // A second process, resuming the same run now, must neither write nor continue it.
  const late: unknown = await resumeRun(approving, runId, { store: second, model: model() }).then(
    (run) => run,
    (error: unknown) => error,
  );
  if (late instanceof Run) {
    late.approve('c1', { by: 'bo' });
    await late.result.catch(() => undefined);
  }
  deciding.approve('c1', { by: 'ana' });
  const outcome = await deciding.result.then((result) => result.status, (error: unknown) => error);
  const after = (await first.readHistory(runId)).filter((entry) => entry.seq > waitedAt);
  assert.equal(after.filter((entry) => entry.eventType === 'statecraft.resumed').length, 1, 'one resume is recorded');
  assert.equal(after.filter((entry) => entry.eventType === 'APPROVE').map((entry) => entry.event.by), ['ana'], 'one decision, by the first');
  assert.instance(late, RunInUseError, 'the second process is refused, naming the one that holds the run');
  assert.is(outcome, 'done');
  assert.equal(ran, ['ana'], 'the tool ran once');
  await first.close();
  await second.close();
});

test('of two processes resuming a waiting run at once, the loser has written nothing when it fails', async () => {
  const path = join(dir, `race-${n++}.db`);
  const stores = [new SqliteStore({ path }), new SqliteStore({ path })];
  const ran: string[] = [];
  const { agent: approving, runId, model } = await waitingRun(stores[0]!, ran);
  const waitedAt = (await stores[0]!.summary(runId)).lastSeq;
  const outcomes = await Promise.all(
    stores.map(async (store, i) => {
      try {
        const run = await resumeRun(approving, runId, { store, model: model() });
        run.approve('c1', { by: `p${i}` });
        return (await run.result).status;
      } catch (error) {
        return error;
      }
    }),
  );
  const after = (await stores[0]!.readHistory(runId)).filter((entry) => entry.seq > waitedAt);
  const winners = outcomes.filter((outcome) => outcome === 'done');
  assert.is(winners.length, 1, String(outcomes));
  const loser = outcomes.find((outcome) => outcome !== 'done');
  assert.ok(loser instanceof RunInUseError || loser instanceof ConflictError, String(loser));
  assert.is(after.filter((entry) => entry.eventType === 'statecraft.resumed').length, 1, 'the loser recorded no resume');
  assert.is(after.filter((entry) => entry.eventType === 'APPROVE').length, 1);
  assert.is(ran.length, 1);
  for (const store of stores) await store.close();
});

test('a resumed run that waits again at once gives up its claim: it is listed waiting, in no process', async () => {
  const store = freshStore();
  const { agent: approving, runId, model } = await waitingRun(store, []);
  const resumed = await resumeRun(approving, runId, { store, model: model() });
  await resumed.durable();
  assert.is((await store.summary(runId)).status, 'running', 'claimed while this process holds it');
  await resumed.detach();
  const summary = await store.summary(runId);
  assert.equal([summary.status, summary.owner], ['waiting', undefined]);
  assert.equal((summary.waitingOn as { callId: string }[]).map((call) => call.callId), ['c1']);
  await store.close();
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
