// A recorded run on its store's live channel: its streamed text goes out, a cancel request comes in
// and is recorded as Run.cancel records it, and a channel that fails changes nothing in the run.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { defineAgent, startRun, type ModelPort } from '../src/index.ts';
import type { LiveChannel, LiveMessage } from '../src/log/live/liveChannel.ts';
import { MemoryStore } from '../src/log/stores/memoryStore.ts';
import { PostgresStore } from '../src/log/stores/postgres/postgresStore.ts';
import { cancelRun } from '../src/runtime/cancelRun.ts';
import { resumeRun } from '../src/runtime/resumeRun.ts';
import { scriptedModel } from '../src/testing/index.ts';
import { delay } from '../src/delay.ts';

const agent = defineAgent({ name: 'relayed', instructions: 'Answer.' });

/** A model that streams two pieces, then waits until aborted (or answers when released). */
function slowModel() {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const model: ModelPort = {
    info: { provider: 'test', model: 'slow', params: {} },
    complete: async (request) => {
      request.onDelta?.('Hello ');
      request.onDelta?.('there');
      await Promise.race([released, new Promise((_, reject) => request.signal?.addEventListener('abort', () => reject(new Error('aborted'))))]);
      return { message: { role: 'assistant', content: 'Hello there' }, usage: { inputTokens: 1, outputTokens: 2 }, finishReason: 'stop', model: 'slow' };
    },
  };
  return { model, release };
}

test('a run streams its text on the channel, and a cancel request from it is recorded as Run.cancel records it', async () => {
  const store = new MemoryStore();
  const { model } = slowModel();
  const run = startRun(agent, { input: 'hi', model, store });
  const heard: LiveMessage[] = [];
  await store.liveChannel().subscribe(run.runId, (message) => heard.push(message));
  for (let i = 0; i < 300 && heard.length < 2; i++) await delay(10);
  assert.equal(heard.map((message) => message.type === 'delta' && message.text), ['Hello ', 'there']);
  const outcome = await cancelRun(store, run.runId, {
    reason: 'From elsewhere.',
    resume: () => Promise.reject(new Error('a run this process holds is not resumed')),
  });
  assert.is(outcome.how, 'requested');
  assert.is(outcome.summary.status, 'cancelled');
  assert.is((await run.result).status, 'cancelled');
  const history = await store.readHistory(run.runId);
  assert.equal(history.find((entry) => entry.eventType === 'CANCEL')?.event, { type: 'CANCEL', reason: 'From elsewhere.' });
});

test('a waiting or never-started run no process holds is resumed and cancelled by cancelRun', async () => {
  const store = new MemoryStore();
  const { model } = slowModel();
  const run = startRun(agent, { input: 'hi', model, store });
  const { forkRun } = await import('../src/runtime/forkRun.ts');
  await run.durable();
  run.cancel('first');
  await run.result;
  const forkId = await forkRun(store, run.runId, 0);
  const resumed: string[] = [];
  const outcome = await cancelRun(store, forkId, {
    resume: async (id) => {
      resumed.push(id);
      return resumeRun(agent, id, { store, model: scriptedModel([]) });
    },
  });
  assert.equal(resumed, [forkId]);
  assert.is(outcome.how, 'here');
  assert.is(outcome.summary.status, 'cancelled');
  const refused = await cancelRun(store, forkId, { resume: () => Promise.reject(new Error('no')) }).catch((error: Error) => error.message);
  assert.match(refused as string, `Run ${forkId} already ended (cancelled`);
});

test('a channel that throws, or cannot subscribe, changes nothing in the run', async () => {
  const broken: LiveChannel = {
    publish: () => {
      throw new Error('publish fails');
    },
    subscribe: () => Promise.reject(new Error('subscribe fails')),
    endStep: () => {
      throw new Error('endStep fails');
    },
    endRun: () => {
      throw new Error('endRun fails');
    },
    close: async () => {},
  };
  for (const liveChannel of [() => broken, () => {
    throw new Error('no channel');
  }]) {
    const store = Object.assign(new MemoryStore(), { liveChannel });
    const run = startRun(agent, { input: 'hi', model: scriptedModel([{ content: 'fine' }]), store });
    const result = await run.result;
    assert.is(result.status, 'done');
    assert.is(result.output, 'fine');
  }
});

test('on PostgreSQL, another store on the same schema hears the text a run writes and cancels it', async () => {
  const url = process.env.STATECRAFT_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const schema = `relay_${randomBytes(4).toString('hex')}`;
  const store = new PostgresStore({ connectionString: url, schema });
  const other = new PostgresStore({ connectionString: url, schema });
  const admin = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await admin.connect();
  } catch (error) {
    console.log(`NOTICE: PostgreSQL relay test skipped: cannot connect to ${url} (${(error as Error).message}).`);
    return;
  }
  try {
    // The schema is made first: two stores making it at once is not what this test is about.
    await store.listRuns();
    await other.listRuns();
    const { model } = slowModel();
    const heard: LiveMessage[] = [];
    const run = startRun(agent, { input: 'hi', model, store });
    let failed: unknown;
    run.result.catch((error: unknown) => (failed = error));
    for (let i = 0; i < 1500 && !failed && !(await other.summary(run.runId).catch(() => undefined))?.owner; i++) await delay(10);
    assert.is(failed, undefined, String((failed as Error | undefined)?.message));
    const stop = await other.liveChannel().subscribe(run.runId, (message) => heard.push(message));
    // What the model streamed before may or may not be heard (the run's connection opens as it
    // streams); what is published from now on is, in order.
    store.liveChannel().publish({ type: 'delta', runId: run.runId, step: 1, text: 'late piece' });
    const texts = () => heard.map((message) => message.type === 'delta' && message.text);
    for (let i = 0; i < 300 && !texts().includes('late piece'); i++) await delay(10);
    assert.is(texts().at(-1), 'late piece');
    assert.ok(['Hello ,there,late piece', 'there,late piece', 'late piece'].includes(texts().join()), texts().join());
    stop();
    const outcome = await cancelRun(other, run.runId, { reason: 'From another store.', resume: () => Promise.reject(new Error('a run another store\'s process holds is not resumed')) });
    assert.is(outcome.summary.status, 'cancelled');
    assert.is((await run.result).status, 'cancelled');
  } finally {
    await store.close();
    await other.close();
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => undefined);
    await admin.end();
  }
});

test.run();
