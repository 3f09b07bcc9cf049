// How an SSE stream follows a run: a run this instance executes is read when its events announce a
// record (also one the store does not hold yet), not on every poll; a run executing elsewhere is
// polled. Checked with a run whose store and events the test controls.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { RunSummary } from '../src/log/format/record.ts';
import type { HistoryEntry } from '../src/log/stores/runStore.ts';
import type { RunEvent } from '../src/runtime/runEvents.ts';
import type { FollowedRun } from '../src/service/TenantRuns.ts';
import { followRun } from '../src/service/http/followRun.ts';
import type { ServiceDeps } from '../src/service/http/serviceDeps.ts';

const RUN = 'run-followed';

/** A run whose records the test commits, its reads counted, and an executor whose events the test sends. */
function fixture(held: boolean) {
  let lastSeq = 1;
  const reads = { summaries: 0 };
  const listeners = new Set<(event: RunEvent) => void>();
  const summary = (): RunSummary => ({ runId: RUN, agentId: 'a', status: 'running', steps: 0, inputTokens: 0, outputTokens: 0, costUsd: 0, lastSeq, createdAt: '', updatedAt: '' });
  const entry = (seq: number): HistoryEntry => ({ seq, time: '', eventType: 'STEP', event: { type: 'STEP' }, state: 'infer' });
  const run = {
    summary: async () => (reads.summaries++, summary()),
    history: async ({ from = 0, to = lastSeq }) => Array.from({ length: Math.max(0, Math.min(to, lastSeq) - from + 1) }, (_, i) => entry(from + i)),
  } as FollowedRun;
  const deps = {
    executor: { subscribe: (listener: (event: RunEvent) => void) => (listeners.add(listener), () => listeners.delete(listener)), holds: () => held },
    streams: new Set<() => void>(),
    pollMs: 5,
  } as unknown as ServiceDeps;
  let abort = () => {};
  const stream = { onAbort: (listener: () => void) => (abort = listener), write: async () => {} } as never;
  const seen: number[] = [];
  const following = followRun(deps, stream, RUN, run, -1, { record: async (record) => void seen.push(record.seq), settled: async () => false });
  return {
    seen,
    reads,
    commit: (seq: number) => (lastSeq = seq),
    announce: (seq: number) => {
      for (const listener of listeners) listener({ type: 'state', runId: RUN, state: 'infer', tags: [], step: 1, usage: { inputTokens: 0, outputTokens: 0 }, costUsd: 0, record: { seq, patchOps: 1, patchBytes: 10 } } as RunEvent);
    },
    stop: async () => (abort(), await following),
  };
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
async function until(done: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !done(); i++) await pause(5);
}

test('a run executing here is read when its events announce a record, even one committed after the event, and not on every poll', async () => {
  const f = fixture(true);
  try {
    await until(() => f.seen.length === 2);
    assert.equal(f.seen, [0, 1]);
    const before = f.reads.summaries;
    await pause(100);
    assert.ok(f.reads.summaries - before <= 1, `read ${f.reads.summaries - before} times in 100 ms with nothing announced (pollMs 5)`);
    // The event comes first and the record a moment later, as the recorder writes it.
    f.announce(2);
    await pause(20);
    f.commit(2);
    await until(() => f.seen.length === 3);
    assert.equal(f.seen, [0, 1, 2]);
  } finally {
    await f.stop();
  }
});

test('a run executing elsewhere is polled: a record committed with no event here still arrives', async () => {
  const f = fixture(false);
  try {
    await until(() => f.seen.length === 2);
    f.commit(3);
    await until(() => f.seen.length === 4);
    assert.equal(f.seen, [0, 1, 2, 3]);
  } finally {
    await f.stop();
  }
});

test.run();
