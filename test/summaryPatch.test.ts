import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { RunSummarySchema } from '../src/log/format/record.ts';
import { summaryPatch } from '../src/log/stores/runStore.ts';

const updatedAt = '2025-01-01T00:00:00.000Z';

test('summary updates are accepted and refused exactly as the summary schema decides', () => {
  const updates: Array<Record<string, unknown>> = [
    { status: 'running', steps: 3, inputTokens: 10, outputTokens: 2, costUsd: 0.5 },
    { status: 'waiting', waitingOn: { approvals: [{ callId: 'c1' }] }, reason: 'needs a person' },
    { status: 'done', waitingOn: undefined, reason: undefined, truncations: 1 },
    { lastSeq: -1 },
    { extra: 'dropped' },
    { updatedAt },
    { updatedAt: '2025-01-01' },
    { status: 'nope' },
    { steps: -1 },
    { steps: 1.5 },
    { costUsd: Number.NaN },
    { costUsd: Number.POSITIVE_INFINITY },
    { costUsd: -0.1 },
    { lastSeq: -2 },
    { reason: 7 },
    { inputTokens: '3' },
  ];
  for (const update of updates) {
    const expected = RunSummarySchema.partial().safeParse(update);
    let actual: Record<string, unknown> | undefined;
    try {
      actual = summaryPatch('r1', update as never, 4);
    } catch (error) {
      assert.not.ok(expected.success, `refused ${JSON.stringify(update)} that the schema accepts: ${String(error)}`);
      assert.match(String(error), /Summary update for run "r1" is invalid at/);
      continue;
    }
    assert.ok(expected.success, `accepted ${JSON.stringify(update)} that the schema refuses`);
    const { lastSeq, updatedAt: at, ...fields } = actual;
    assert.is(lastSeq, 4);
    assert.type(at, 'string');
    const wanted = Object.fromEntries(Object.entries(expected.data).filter(([key, value]) => value !== undefined && key !== 'lastSeq' && key !== 'updatedAt'));
    const cleared = Object.keys(update).filter((key) => update[key] === undefined);
    assert.equal(fields, { ...wanted, ...Object.fromEntries(cleared.map((key) => [key, null])) }, JSON.stringify(update));
  }
});

test.run();
