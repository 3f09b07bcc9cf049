import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { assign, createActor, setup } from 'xstate';
import { makeRecord } from '../src/log/format/makeRecord.ts';
import { MemoryStore } from '../src/log/stores/memoryStore.ts';
import { normalize } from '../src/log/format/patch.ts';
import { history, stateAt } from '../src/log/reads/reads.ts';
import { sealRecord } from '../src/log/format/record.ts';
import type { RunRecord } from '../src/log/format/record.ts';
import type { RunStore } from '../src/log/stores/runStore.ts';
import { CorruptRecordError, RecordNotFoundError, RunNotFoundError } from '../src/log/format/storageErrors.ts';
import { decodeText } from '../src/log/format/codec.ts';
import { splitRecord } from '../src/log/stores/runStore.ts';

const time = '2025-01-01T00:00:00.000Z';

async function storeRun(store: RunStore, runId: string, snapshots: unknown[], keyframeEvery: number): Promise<RunRecord[]> {
  await store.createRun(
    { format: 1, runId, agent: { id: 'a', version: '1' }, machine: { id: 'm', hash: 'h' }, model: { provider: 'p', model: 'm', params: {} }, createdAt: time },
    { runId, agentId: 'a', status: 'running', steps: 0, inputTokens: 0, outputTokens: 0, costUsd: 0, lastSeq: -1, createdAt: time, updatedAt: time },
  );
  const records = snapshots.map((snapshot, seq) =>
    makeRecord({ runId, seq, time, event: { type: `E${seq}` }, state: { at: seq }, previous: snapshots[seq - 1], snapshot, keyframe: seq % keyframeEvery === 0 }),
  );
  await store.append(runId, records, { expectedSeq: 0 });
  return records;
}

function generated(count: number): unknown[] {
  let seed = 42;
  const rand = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
  const out: unknown[] = [];
  let current: { messages: unknown[]; vars: Record<string, unknown>; output?: unknown } = { messages: [], vars: {}, output: undefined };
  for (let i = 0; i < count; i++) {
    const roll = rand(8);
    const messages = current.messages;
    if (roll < 3) current = { ...current, messages: [...messages, { role: 'user', content: `m${i}`, 'a/b~c': i }] };
    else if (roll === 3) current = { ...current, messages: messages.slice(0, Math.max(0, messages.length - 2)) };
    else if (roll === 4) current = { ...current, vars: { ...current.vars, [`k/${rand(4)}~`]: { n: i, list: [i] } } };
    else if (roll === 5) {
      const { [Object.keys(current.vars)[0] ?? 'none']: _dropped, ...vars } = current.vars;
      current = { ...current, vars };
    } else if (roll === 6) current = { ...current, output: rand(2) ? undefined : { text: `done ${i}` } };
    else if (messages.length) current = { ...current, messages: messages.map((m, j) => (j === messages.length - 1 ? { ...(m as object), edited: i } : m)) };
    out.push({ status: 'active', value: i % 2 ? 'infer' : 'assemble', context: current, error: undefined });
  }
  return out;
}

test('stateAt reproduces every snapshot of a generated run', async () => {
  const store = new MemoryStore();
  const snapshots = generated(300);
  await storeRun(store, 'gen', snapshots, 7);
  const results: unknown[] = [];
  for (let seq = 0; seq < snapshots.length; seq++) {
    results[seq] = await stateAt(store, 'gen', seq);
    assert.equal(results[seq], normalize(snapshots[seq]), `seq ${seq}`);
  }
  // Kept states are shared between results: reading on, in any order, must change none returned before.
  for (const seq of [299, 0, 150, 151, 7, 298, 64, 63, 200]) assert.equal(await stateAt(store, 'gen', seq), normalize(snapshots[seq]), `again, seq ${seq}`);
  results.forEach((result, seq) => assert.equal(result, normalize(snapshots[seq]), `earlier result for seq ${seq}`));
});

test('stateAt reproduces every persisted snapshot of a live XState actor', async () => {
  const machine = setup({
    types: { context: {} as { messages: string[]; pending?: string }, events: {} as { type: 'say'; text: string } | { type: 'undo' } | { type: 'finish' } },
  }).createMachine({
    id: 'chat',
    context: { messages: [], pending: undefined },
    initial: 'idle',
    states: {
      idle: {
        on: {
          say: { target: 'busy', actions: assign({ messages: ({ context, event }) => [...context.messages, event.text], pending: ({ event }) => event.text }) },
          finish: 'done',
        },
      },
      busy: { on: { say: { actions: assign({ messages: ({ context, event }) => [...context.messages, event.text] }) }, undo: { target: 'idle', actions: assign({ messages: ({ context }) => context.messages.slice(0, -1), pending: undefined }) } } },
      done: { type: 'final' },
    },
    output: ({ context }) => ({ count: context.messages.length }),
  });
  const actor = createActor(machine).start();
  const snapshots: unknown[] = [actor.getPersistedSnapshot()];
  const events = [{ type: 'say', text: 'a/b' }, { type: 'say', text: '~x' }, { type: 'undo' }, { type: 'say', text: 'c' }, { type: 'undo' }, { type: 'finish' }] as const;
  for (const event of events) {
    actor.send(event);
    snapshots.push(actor.getPersistedSnapshot());
  }
  actor.stop();
  const store = new MemoryStore();
  await storeRun(store, 'live', snapshots, 4);
  for (let seq = 0; seq < snapshots.length; seq++) assert.equal(await stateAt(store, 'live', seq), normalize(snapshots[seq]), `seq ${seq}`);
  const last = (await stateAt(store, 'live', snapshots.length - 1)) as { status: string; output: unknown };
  assert.equal([last.status, last.output], ['done', { count: 1 }]);
  const restored = createActor(machine, { snapshot: machine.resolveState(last as never) });
  assert.is(restored.getSnapshot().status, 'done');
});

test('stateAt refuses seqs beyond the last record and unknown runs', async () => {
  const store = new MemoryStore();
  await storeRun(store, 'r1', generated(3), 10);
  await stateAt(store, 'r1', 3).then(
    () => assert.unreachable('seq 3 does not exist'),
    (error: unknown) => {
      assert.instance(error, RecordNotFoundError);
      assert.match(String(error), 'Run "r1" has no record 3: expected a seq from 0 to 2');
    },
  );
  await stateAt(store, 'nope', 0).then(
    () => assert.unreachable('no such run'),
    (error: unknown) => assert.instance(error, RunNotFoundError),
  );
});

test('stateAt names the record whose patch no longer applies', async () => {
  const store = new MemoryStore();
  await storeRun(store, 'r1', [{ a: { b: 1 } }, { a: { b: 2 } }, { a: { b: 3 } }], 10);
  const run = store.data.get('r1');
  const body = { ...(JSON.parse(decodeText(run?.records[1]?.body ?? '{}')) as RunRecord), runId: 'r1' };
  const { checksum: _old, ...rest } = { ...body, patch: [{ op: 'replace' as const, path: '/missing/b', value: 2 }] };
  if (run?.records[1]) run.records[1] = splitRecord(sealRecord(rest));
  await stateAt(store, 'r1', 2).then(
    () => assert.unreachable('patch should not apply'),
    (error: unknown) => {
      assert.instance(error, CorruptRecordError);
      assert.is((error as CorruptRecordError).seq, 1);
    },
  );
});

test('history lists seq, time, event type, state and meta in order', async () => {
  const store = new MemoryStore();
  await storeRun(store, 'r1', generated(4), 2);
  assert.equal(await history(store, 'r1'), [0, 1, 2, 3].map((seq) => ({ seq, time, eventType: `E${seq}`, event: { type: `E${seq}` }, state: { at: seq } })));
});

test.run();
