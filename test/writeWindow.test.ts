import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createActor, createMachine } from 'xstate';
import { z } from 'zod';
import { defineAgent, defineTool, runAgent, type RunRecord } from '../src/index.ts';
import { MemoryStore } from '../src/log/memoryStore.ts';
import type { AppendOptions } from '../src/log/runStore.ts';
import { Recorder } from '../src/recorder/Recorder.ts';
import { scriptedModel, type Script } from '../src/testing/index.ts';
import { delay } from '../src/delay.ts';

/** A memory store that keeps the event types of each append, in order. */
class BatchStore extends MemoryStore {
  readonly batches: string[][] = [];
  override async append(runId: string, records: RunRecord[], options: AppendOptions): Promise<void> {
    if (records.length) this.batches.push(records.map((record) => record.event.type));
    return super.append(runId, records, options);
  }
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

test('a tool result waits for the next step\u2019s start and shares its commit, when the tool may run again', async () => {
  const store = new BatchStore();
  const result = await runAgent(agentWith(true), 'go', { model: scriptedModel(script), store, writeWithinMs });
  assert.is(result.status, 'done');
  // The first call's result is written with the next model answer and the next tool start: one commit per step.
  assert.equal(batchOf(store, 'TOOL_FINISHED'), ['TOOL_FINISHED', 'xstate.done.actor.executeTools', 'xstate.done.actor.callModel', 'TOOL_STARTED']);
  assert.ok(store.batches.length <= 5, `few commits: ${JSON.stringify(store.batches)}`);
  const records = await store.read(result.runId);
  assert.is(records.length, store.batches.flat().length, 'every record written');
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

test.run();
