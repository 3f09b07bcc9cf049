import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Json, RunRecord } from '../src/log/format/record.ts';
import { stateAt } from '../src/log/reads/reads.ts';
import { MemoryStore } from '../src/log/stores/memoryStore.ts';
import { recordLongRun, writeLongRun } from './fixtures/longRun.ts';

/** A record with what differs between two runs of the same script left out: ids, clocks and durations. */
function comparable(record: RunRecord, runId: string): unknown {
  const text = JSON.stringify({ event: record.event, state: record.state, patch: record.patch, meta: record.meta ?? null, snapshot: record.snapshot ?? null });
  const clock = (key: string) => ['at', 'startedAt', 'durationMs'].includes(key);
  return JSON.parse(text.replaceAll(runId, '<run>'), (key, value: Json) => {
    if (clock(key) && typeof value === 'number') return 0;
    // A patch op that sets a clock: its path names it.
    const op = value as { path?: string; value?: Json };
    if (typeof op?.path === 'string' && clock(op.path.split('/').at(-1)!) && typeof op.value === 'number') return { ...op, value: 0 };
    return value;
  });
}

test('writeLongRun writes the records the runtime records for the same script', async () => {
  const store = new MemoryStore();
  const steps = 40;
  const recorded = await recordLongRun(store, steps);
  const written = await writeLongRun(store, steps);
  const [a, b] = [await store.read(recorded), await store.read(written)];
  assert.is(b.length, a.length);
  assert.is(a.length, 1 + 4 * (steps - 1) + 1);
  for (let i = 0; i < a.length; i++) {
    const [x, y] = [comparable(a[i]!, recorded), comparable(b[i]!, written)] as [{ snapshot: unknown }, { snapshot: unknown }];
    assert.equal({ ...y, snapshot: y.snapshot !== null }, { ...x, snapshot: x.snapshot !== null }, `record ${i}`);
  }
  // States read afresh (a new store object keeps no states) through the state index and keyframes agree too.
  for (const seq of [64, 100, 128, 150, a.length - 1]) {
    const state = async (runId: string) => comparable({ ...a[seq]!, snapshot: await stateAt(new MemoryStore({ data: store.data }), runId, seq) } as RunRecord, runId);
    assert.equal(await state(written), await state(recorded), `state at ${seq}`);
  }
  const [sa, sb] = [await store.summary(recorded), await store.summary(written)];
  const facts = ({ status, steps: n, inputTokens, outputTokens, lastSeq, reason }: typeof sa) => ({ status, n, inputTokens, outputTokens, lastSeq, reason });
  assert.equal(facts(sb), facts(sa));
});

test.run();
