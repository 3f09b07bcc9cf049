import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createActor, createMachine, setup } from 'xstate';
import { z } from 'zod';
import { agentMachine, defineAgent, defineTool, runAgent, type Agent, type AgentInput, type AgentOutput, type ModelPort, type RunRecord } from '../src/index.ts';
import { MemoryStore } from '../src/log/stores/memoryStore.ts';
import type { AppendOptions } from '../src/log/stores/runStore.ts';
import { Recorder } from '../src/recorder/Recorder.ts';
import { scriptedModel, type Script } from '../src/testing/index.ts';
import { delay } from '../src/delay.ts';

/** A memory store that keeps the event types of each append, in order, and which ones asked for the disk. */
class BatchStore extends MemoryStore {
  readonly batches: string[][] = [];
  /** The seq after the last record that reached the disk (an fsynced append covers all before it). */
  synced = 0;
  override async append(runId: string, records: RunRecord[], options: AppendOptions): Promise<void> {
    if (records.length) this.batches.push(records.map((record) => record.event.type));
    await super.append(runId, records, options);
    if (options.sync) this.synced = options.expectedSeq + records.length;
  }
}

/** A model port that notes, at each request, which records the store holds and which are on disk. */
function watchingModel(store: BatchStore, runId: string, script: Script) {
  const inner = scriptedModel(script);
  const seen: { held: string[]; synced: string[] }[] = [];
  const model: ModelPort = {
    info: inner.info,
    complete: async (request) => {
      const held = (await store.read(runId).catch(() => [])).map((record) => record.event.type);
      seen.push({ held, synced: held.slice(0, store.synced) });
      return inner.complete(request);
    },
  };
  return { model, seen };
}

// With a window far longer than the run, only what waits for a record writes it. Each model answer
// takes 100 ms: a write chained on the next turn of the event loop goes first.
const script: Script = [
  { toolCalls: [{ id: 'a', name: 'note', arguments: { text: 'one' } }], delayMs: 100 },
  { toolCalls: [{ id: 'b', name: 'note', arguments: { text: 'two' } }], delayMs: 100 },
  { content: 'noted', delayMs: 100 },
];
const writeWithinMs = 60_000;

const agentWith = (idempotent: boolean) =>
  defineAgent({
    name: 'window',
    tools: [defineTool({ name: 'note', description: 'Note.', parameters: z.object({ text: z.string() }), idempotent, execute: ({ text }) => text })],
  });

/** The `nth` batch that holds a record of this event type. */
const batchOf = (store: BatchStore, type: string, nth = 0) => store.batches.filter((batch) => batch.includes(type))[nth] ?? [];

test('a tool result is committed before the next model request, and the answer with the tool start it asks for', async () => {
  const store = new BatchStore();
  const result = await runAgent(agentWith(true), 'go', { model: scriptedModel(script), store, writeWithinMs });
  assert.is(result.status, 'done');
  // Two commits a step: before the request leaves (the previous result and the steps up to the request),
  // and before the tool starts (the model's answer and the start).
  assert.equal(batchOf(store, 'TOOL_FINISHED'), ['TOOL_FINISHED', 'xstate.done.actor.executeTools']);
  assert.equal(batchOf(store, 'TOOL_STARTED', 1), ['xstate.done.actor.callModel', 'TOOL_STARTED']);
  assert.ok(store.batches.length <= 6, `few commits: ${JSON.stringify(store.batches)}`);
  const records = await store.read(result.runId);
  assert.is(records.length, store.batches.flat().length, 'every record written');
});

/** A machine of the user's own that invokes `child` as an agent of the run. */
function hosting(child: Agent) {
  let output: AgentOutput | undefined;
  const machine = setup({ types: { input: {} as AgentInput, output: {} as AgentOutput }, actors: { child: agentMachine } }).createMachine({
    id: 'host',
    initial: 'working',
    states: {
      working: { invoke: { id: 'child', src: 'child', input: ({ event }) => ({ ...(event as unknown as { input: AgentInput }).input }), onDone: { target: 'done', actions: ({ event }) => void (output = event.output) } } },
      done: { type: 'final' },
    },
    output: () => output!,
  });
  return defineAgent({ name: 'host', machine, agents: { child } });
}

test('no model request leaves before every earlier record is committed, and a tool that may not run twice is on disk as finished', async () => {
  for (const [idempotent, composed] of [[true, false], [false, false], [false, true]] as const) {
    const store = new BatchStore();
    const runId = `watched-${idempotent}-${composed}`;
    const { model, seen } = watchingModel(store, runId, script);
    const agent = composed ? hosting(agentWith(idempotent)) : agentWith(idempotent);
    const result = await runAgent(agent, 'go', { model, store, writeWithinMs, runId });
    assert.is(result.status, 'done');
    const records = (await store.read(runId)).map((record) => record.event.type);
    assert.is(seen.length, 3);
    for (const [i, { held }] of seen.entries()) {
      // Everything recorded before the request (up to entering the state that asks) is in the store.
      const before = records.slice(0, held.length);
      assert.equal(held, before, `request ${i + 1}`);
      assert.is(held.filter((type) => type === 'TOOL_FINISHED').length, i, `request ${i + 1} leaves after the result it carries is committed`);
    }
    if (!idempotent) {
      for (const [i, { synced }] of seen.entries()) {
        assert.is(synced.filter((type) => type === 'TOOL_FINISHED').length, i, `request ${i + 1}: the unsafe tool's finish is on disk`);
      }
    }
  }
});

test('a result of a tool that may not run twice is written at once, before the next model answer', async () => {
  const store = new BatchStore();
  const result = await runAgent(agentWith(false), 'go', { model: scriptedModel(script), store, writeWithinMs });
  assert.is(result.status, 'done');
  assert.not.ok(batchOf(store, 'TOOL_FINISHED').includes('xstate.done.actor.callModel'), JSON.stringify(store.batches));
  const next = store.batches.findIndex((batch) => batch.includes('TOOL_FINISHED'));
  assert.ok(store.batches.slice(next + 1).some((batch) => batch.includes('xstate.done.actor.callModel')), 'the next answer comes in a later commit');
});

test('the recorder writes what nothing waits for within its window, and at once when durable() is asked', async () => {
  const store = new BatchStore();
  const header = {
    format: 1 as const,
    runId: 'w',
    agent: { id: 'a', version: '1' },
    machine: { id: 'm', hash: 'h' },
    model: { provider: 'test', model: 'm', params: {} },
    createdAt: new Date().toISOString(),
  };
  const actor = createActor(createMachine({ id: 'm', initial: 'a', states: { a: { on: { GO: 'a' } } } })).start();
  const slow = new Recorder({ store, runId: 'w', writeWithinMs: 60_000 });
  await slow.begin(header);
  slow.record(actor, { type: 'xstate.init' });
  await delay(30);
  assert.equal(store.batches, [], 'nothing written before the window ends');
  await slow.durable();
  assert.equal(store.batches, [['xstate.init']], 'written when asked');

  const quick = new Recorder({ store, runId: 'w2', writeWithinMs: 10 });
  await quick.begin({ ...header, runId: 'w2' });
  quick.record(actor, { type: 'xstate.init' });
  quick.record(actor, { type: 'GO' });
  for (let i = 0; i < 100 && store.batches.length < 2; i++) await delay(5);
  assert.equal(store.batches[1], ['xstate.init', 'GO'], 'written by itself once the window ends, in one commit');
  actor.stop();
});

test('durable({ sync: true }) asked while a write of the same records is under way still puts them on disk', async () => {
  // A store whose appends wait for the test, as a remote database's do for the network.
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  class SlowStore extends BatchStore {
    override async append(runId: string, records: RunRecord[], options: AppendOptions): Promise<void> {
      await gate;
      return super.append(runId, records, options);
    }
  }
  const store = new SlowStore();
  const actor = createActor(createMachine({ id: 'm', initial: 'a', states: { a: {} } })).start();
  const recorder = new Recorder({ store, runId: 's', writeWithinMs: 60_000 });
  await recorder.begin({ format: 1, runId: 's', agent: { id: 'a', version: '1' }, machine: { id: 'm', hash: 'h' }, model: { provider: 'test', model: 'm', params: {} }, createdAt: new Date().toISOString() });
  recorder.record(actor, { type: 'xstate.init' });
  const committed = recorder.durable();
  await delay(10); // the write has taken the record and waits on the store
  const synced = recorder.durable({ sync: true });
  open();
  await Promise.all([committed, synced]);
  assert.is(store.synced, 1, 'the record reached the disk before durable({ sync: true }) resolved');
  actor.stop();
});

test.run();
