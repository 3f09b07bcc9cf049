import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { matchesRow, RecordRows, stateText } from '../src/inspector/recordRows.ts';
import type { HistoryEntry, RunStore } from '../src/log/stores/runStore.ts';

const time = '2026-12-07T10:00:00.000Z';
const entries: HistoryEntry[] = [
  { type: 'xstate.init', state: 'infer' },
  { type: 'xstate.done.actor.callModel', output: { message: { role: 'assistant', content: 'Both.', toolCalls: [{ id: 'c1', name: 'search', arguments: '{}' }, { id: 'c2', name: 'publish', arguments: '{}' }] }, usage: { inputTokens: 10, outputTokens: 2 } }, state: 'execute' },
  { type: 'TOOL_STARTED', callId: 'c1', state: 'execute' },
  { type: 'TOOL_FINISHED', callId: 'c1', outcome: { content: 'found', isError: false, durationMs: 12.4 }, state: 'execute' },
  { type: 'APPROVE', callId: 'c2', by: 'ana', state: 'execute' },
  { type: 'REJECT', callId: 'c2', by: 'bo', reason: 'not today', state: 'execute' },
  { type: 'TOOL_FINISHED', callId: 'c2', outcome: { content: 'Tool "publish" failed: offline', isError: true, durationMs: 3 }, state: 'execute' },
  { type: 'xstate.done.actor.evaluateFitness', output: [{ name: 'cost', ok: true }, { name: 'tone', ok: false }], state: 'update' },
  { type: 'xstate.done.actor.compactHistory', output: {}, state: { memory: 'compact' } },
  { type: 'xstate.error.actor.callModel', error: { name: 'Error', message: 'HTTP 500' }, state: 'failed' },
].map(({ state, ...event }, seq) => ({ seq, time, eventType: event.type, event: event as HistoryEntry['event'], state: state as HistoryEntry['state'] }));

/** A store holding one run of `entries`: enough for RecordRows, which reads summaries and history only. */
const store = {
  summary: async () => ({ createdAt: time, lastSeq: entries.length - 1 }),
  readHistory: async (_runId: string, { from = 0, to = entries.length - 1 } = {}) => entries.slice(from, to + 1),
} as unknown as RunStore;

test('records are said in words: model turns, tool calls with duration and outcome, decisions, fitness, compaction, errors', async () => {
  const { rows } = await new RecordRows(store).range('r', 0, 99);
  assert.equal(
    rows.map((row) => [row.kind, row.label]),
    [
      ['start', 'Run started'],
      ['model', 'Model asks for search, publish and says: Both. · 10 in / 2 out'],
      ['tool', 'search started (c1)'],
      ['tool', 'search finished in 12 ms'],
      ['approval', 'publish approved by ana (c2)'],
      ['approval', 'publish rejected by bo (c2): not today'],
      ['tool', 'publish failed in 3 ms: Tool "publish" failed: offline'],
      ['fitness', 'Fitness check: tone breached'],
      ['compaction', 'Context compacted'],
      ['error', 'Model call failed: HTTP 500'],
    ],
  );
  assert.equal(rows.map((row) => row.status ?? ''), ['', '', 'started', 'ok', 'approved', 'rejected', 'error', '', '', '']);
  assert.is(rows[3]!.durationMs, 12);
  assert.is(rows[8]!.state, 'memory.compact');
});

test("a range's tool events are named from a turn before it, and every row is built once for filters", async () => {
  const rows = new RecordRows(store);
  const { rows: late } = await rows.range('r', 3, 3);
  assert.is(late[0]!.label, 'search finished in 12 ms');
  const all = await rows.all('r');
  assert.equal([...all.tools].sort(), ['publish', 'search']);
  const failed = all.rows.filter((row, seq) => matchesRow(row, all.texts[seq]!, { kind: ['tool'], text: 'OFFLINE' }));
  assert.equal(failed.map((row) => row.seq), [6]);
  assert.equal(all.rows.filter((row, seq) => matchesRow(row, all.texts[seq]!, { state: 'compact' })).map((row) => row.seq), [8]);
  assert.is(stateText({ a: { b: 'c' }, d: 'e' }), 'a.b.c, d.e');
});

test.run();
