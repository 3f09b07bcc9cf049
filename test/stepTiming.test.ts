import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { z } from 'zod';
import { defineAgent, defineTool, MemoryStore, startRun } from '../src/index.ts';
import { deskMachine } from './fixtures/deskMachine.ts';
import { stepTiming, turnState, type TimingSpan } from '../src/inspector/stepTiming.ts';
import { timingAt } from '../src/inspector/timingAt.ts';
import type { HistoryEntry } from '../src/log/stores/runStore.ts';
import { scriptedModel } from '../src/testing/index.ts';

const T0 = Date.parse('2026-12-07T10:00:00.000Z');
/** A record `ms` after T0. */
const at = (seq: number, ms: number, event: Record<string, unknown> & { type: string }, meta?: HistoryEntry['meta']): HistoryEntry => ({
  seq,
  time: new Date(T0 + ms).toISOString(),
  eventType: event.type,
  event: event as HistoryEntry['event'],
  state: 'execute',
  ...(meta ? { meta } : {}),
});
const bars = (spans: TimingSpan[]) => spans.map((span) => [span.kind, span.callId ?? '', span.start, span.end, span.status]);

// Entered the turn at 0; the model answered at 300 after 250 ms, asking for three calls, one needing approval.
const previous = at(4, 0, { type: 'xstate.done.actor.executeTools' });
const answer = at(5, 302, { type: 'xstate.done.actor.callModel', output: { at: T0 + 300, durationMs: 250, usage: { inputTokens: 90, outputTokens: 12 } } }, { model: 'gpt-x', durationMs: 250 });
const turn = {
  step: 3,
  calls: [
    { id: 'a', name: 'search', status: 'ready' },
    { id: 'b', name: 'fetch', status: 'ready' },
    { id: 'c', name: 'publish', status: 'awaiting' },
    { id: 'd', name: 'wipe', status: 'denied' },
  ],
};

test('a turn with an approval wait and parallel calls, one failing: model, wait, overlapping tools, fitness, in order', () => {
  const records = [
    answer,
    at(6, 1302, { type: 'APPROVE', callId: 'c', by: 'ana' }),
    at(7, 1303, { type: 'TOOL_STARTED', callId: 'a' }),
    at(8, 1303, { type: 'TOOL_STARTED', callId: 'b' }),
    at(9, 1304, { type: 'TOOL_STARTED', callId: 'c' }),
    at(10, 1350, { type: 'TOOL_FINISHED', callId: 'b', outcome: { content: 'Tool "fetch" failed: timeout', isError: true, durationMs: 46.4 } }),
    at(11, 1400, { type: 'TOOL_FINISHED', callId: 'c', outcome: { content: 'ok', isError: false, durationMs: 95 } }),
    at(12, 1500, { type: 'TOOL_FINISHED', callId: 'a', outcome: { content: 'found', isError: false, durationMs: 196.8 } }),
    at(13, 1501, { type: 'xstate.done.actor.executeTools' }),
    at(14, 1510, { type: 'xstate.done.actor.evaluateFitness', output: [{ name: 'tone', ok: false }] }),
  ];
  const timing = stepTiming(previous, records, turn, true);
  assert.equal(
    bars(timing.spans),
    [
      ['model', '', 50, 300, 'ok'],
      ['approval', 'c', 302, 1302, 'approved'],
      ['tool', 'd', 302, 302, 'denied'],
      ['tool', 'a', 1303, 1500, 'ok'],
      ['tool', 'b', 1303, 1350, 'error'],
      ['tool', 'c', 1304, 1400, 'ok'],
      ['fitness', '', 1501, 1510, 'error'],
    ],
  );
  assert.equal([timing.step, timing.fromSeq, timing.toSeq, timing.durationMs, timing.complete], [3, 5, 14, 1510, true]);
  assert.is(timing.startedAt, new Date(T0).toISOString());
  const [model, wait, denied, a, b] = timing.spans;
  assert.is(model!.label, 'model call: gpt-x · 90 in / 12 out');
  assert.equal([wait!.label, wait!.by, wait!.seq], ['waiting for approval of publish', 'ana', 6]);
  assert.is(denied!.label, 'wipe denied by policy');
  assert.equal([b!.label, b!.error, b!.durationMs], ['fetch', 'Tool "fetch" failed: timeout', 46]);
  assert.is(a!.durationMs, 197);
  // The parallel calls overlap: each starts before the others end.
  assert.ok(a!.start < b!.end && b!.start < a!.end);
  assert.is(timing.spans.at(-1)!.label, 'fitness check: tone breached');
});

test('an open turn: a wait still waiting and a call still running end at the last record', () => {
  const open = stepTiming(previous, [answer], turn, false);
  assert.equal(bars(open.spans).slice(0, 2), [['model', '', 50, 300, 'ok'], ['approval', 'c', 302, 302, 'waiting']]);
  assert.is(open.complete, false);
  // Asked while the run waits: the wait has lasted until now.
  const now = stepTiming(previous, [answer], turn, false, T0 + 4000);
  assert.equal(bars(now.spans)[1], ['approval', 'c', 302, 4000, 'waiting']);
  assert.is(now.durationMs, 4000);
  assert.is(stepTiming(previous, [answer], turn, true, T0 + 4000).durationMs, 302, 'a turn that is over ends at its last record');
  const running = stepTiming(previous, [answer, at(6, 1302, { type: 'REJECT', callId: 'c', by: 'bo', reason: 'no' }), at(7, 1310, { type: 'TOOL_STARTED', callId: 'a' }), at(8, 1320, { type: 'TOOL_STARTED', callId: 'b' })], turn, false);
  assert.equal(bars(running.spans).filter(([kind]) => kind !== 'model'), [
    ['approval', 'c', 302, 1302, 'rejected'],
    ['tool', 'd', 302, 302, 'denied'],
    ['tool', 'a', 1310, 1320, 'running'],
    ['tool', 'b', 1320, 1320, 'running'],
  ]);
  // Cancelled while a call ran: the run went no further, so the call never finished.
  const cancelled = stepTiming(previous, [answer, at(6, 1310, { type: 'TOOL_STARTED', callId: 'a' }), at(7, 1400, { type: 'CANCEL' })], { step: 3, calls: [turn.calls[0]!] }, true);
  assert.equal(bars(cancelled.spans)[1], ['tool', 'a', 1310, 1400, 'unfinished']);
});

test('an expired approval, an interrupted call waiting again, and a failed model call', () => {
  const expired = stepTiming(previous, [answer, at(6, 5302, { type: 'APPROVAL_EXPIRED' }), at(7, 5303, { type: 'xstate.done.actor.executeTools' })], { step: 3, calls: [turn.calls[2]!] }, true);
  assert.equal(bars(expired.spans)[1], ['approval', 'c', 302, 5302, 'expired']);
  const interrupted = stepTiming(
    previous,
    [answer, at(6, 310, { type: 'TOOL_STARTED', callId: 'a' }), at(7, 9000, { type: 'statecraft.resumed' }), at(8, 9001, { type: 'TOOL_INTERRUPTED', callId: 'a', note: 'It may have run.' }), at(9, 9500, { type: 'APPROVE', callId: 'a', by: 'cy' })],
    { step: 3, calls: [turn.calls[0]!] },
    false,
  );
  assert.equal(bars(interrupted.spans).slice(1), [['tool', 'a', 310, 9001, 'interrupted'], ['approval', 'a', 9001, 9500, 'approved']]);
  const failed = stepTiming(previous, [at(5, 700, { type: 'xstate.error.actor.callModel', error: { message: 'HTTP 500' } })], turnState({ step: 2, turn: null }, true), true);
  assert.equal(bars(failed.spans), [['model', '', 0, 700, 'error']]);
  assert.equal([failed.step, failed.spans[0]!.error], [3, 'HTTP 500']);
});

test("the turn's state gives its number and calls", () => {
  assert.equal(turnState({ step: 4, turn: { step: 4, calls: [{ id: 'x', name: 'add', status: 'awaiting', note: 'n' }] } }, false), { step: 4, calls: [{ id: 'x', name: 'add', status: 'awaiting' }] });
  assert.equal(turnState(undefined, false), { step: 0, calls: [] });
});

test("an invoked agent's turn is timed from its own records, and a run that failed at its first model call has one failed bar", async () => {
  const store = new MemoryStore();
  const note = defineTool({ name: 'note', description: 'Note.', parameters: z.object({ text: z.string() }), execute: ({ text }) => `noted ${text}` });
  const writer = defineAgent({ name: 'writer', instructions: 'Write.', tools: [note] });
  const machine = deskMachine(writer);
  const script = [{ toolCalls: [{ id: 'n1', name: 'note', arguments: { text: 'a' } }, { id: 'n2', name: 'note', arguments: { text: 'b' } }] }, { content: 'Written.' }];
  const desk = startRun(defineAgent({ name: 'desk', machine, agents: { writer } }), { input: 'go', model: scriptedModel(script), store });
  assert.is((await desk.result).status, 'done');
  const history = await store.readHistory(desk.runId);
  const finished = history.find((entry) => entry.eventType === 'TOOL_FINISHED')!;
  const timing = (await timingAt(store, desk.runId, finished.seq))!;
  assert.equal([timing.step, timing.actor, timing.complete], [1, 'writer', true]);
  assert.equal(timing.spans.map((span) => [span.kind, span.callId ?? '', span.status]), [['model', '', 'ok'], ['tool', 'n1', 'ok'], ['tool', 'n2', 'ok']]);
  // The run's own records (its start, the writer finishing) are not the writer's turns.
  assert.is(await timingAt(store, desk.runId, history.find((entry) => entry.eventType === 'xstate.done.actor.writer')!.seq), null);

  const down = startRun(defineAgent({ name: 'down' }), { input: 'go', model: scriptedModel(() => { throw new Error('HTTP 503'); }), store });
  assert.is((await down.result).status, 'failed');
  const failed = (await timingAt(store, down.runId, 1))!;
  assert.equal([failed.step, failed.spans.map((span) => [span.kind, span.status, span.error])], [1, [['model', 'error', 'HTTP 503']]]);
  assert.equal(await timingAt(store, down.runId, 0), failed, 'the start belongs to the first turn');
});

test.run();
