import type { SSEStreamingApi } from 'hono/streaming';
import type { RunSummary } from '../../log/format/record.ts';
import type { HistoryEntry } from '../../log/stores/runStore.ts';
import type { RunEvent } from '../../runtime/runEvents.ts';
import type { FollowedRun } from '../TenantRuns.ts';
import type { ServiceDeps } from './serviceDeps.ts';

const KEEPALIVE_MS = 15_000;
/**
 * How often a stream looks at a run this process executes when its events announce nothing new: a
 * safety net only. Polling every stream's run every `pollMs` cost 800 store reads a second with 200 streams.
 */
const HELD_POLL_MS = 2_000;

/** What a stream does with what it reads of a run. */
export interface RunFollower {
  /** Each record after the one the stream started after, in order. */
  record(entry: HistoryEntry): Promise<void>;
  /** After each read of the run: its summary, and whether every record of it was passed on. Answers true to end the stream. */
  settled(summary: RunSummary, caughtUp: boolean): Promise<boolean>;
  /** A live event of the run (streamed text) from the runs this process executes. */
  live?(event: RunEvent): void;
}

/** How a follow ended: the follower said so (`ended`), or the client went away or the service is stopping (`stopped`). */
export type FollowEnd = 'ended' | 'stopped';

/**
 * Follows a run for an open SSE stream: passes on its records from `after` on, wakes on the run's live
 * events here and polls for records other processes write, keeps a quiet stream alive with comments,
 * and stops when the client goes away or the service stops its streams.
 */
export async function followRun(deps: ServiceDeps, stream: SSEStreamingApi, runId: string, run: FollowedRun, after: number, follower: RunFollower): Promise<FollowEnd> {
  let sent = after;
  let stopped = false;
  let wake: (() => void) | undefined;
  const nudge = () => {
    wake?.();
    wake = undefined;
  };
  const stop = () => {
    stopped = true;
    nudge();
  };
  deps.streams.add(stop);
  stream.onAbort(stop);
  /** The last record seq the run's events announced; the store may not hold it yet (records are written a little later). */
  let announced = after;
  const unsubscribe = deps.executor.subscribe((event) => {
    if (event.runId !== runId || stopped) return;
    follower.live?.(event);
    if (event.type === 'state' && event.record) announced = Math.max(announced, event.record.seq);
    if (event.type !== 'delta') nudge();
  }, runId);
  try {
    let quietSince = Date.now();
    while (!stopped) {
      const summary = await run.summary();
      if (summary.lastSeq > sent) {
        for (const entry of await run.history({ from: sent + 1, to: summary.lastSeq })) {
          if (stopped) break;
          await follower.record(entry);
          sent = entry.seq;
          quietSince = Date.now();
        }
      }
      if (stopped) break;
      if (await follower.settled(summary, sent >= summary.lastSeq)) return 'ended';
      // A comment now and then keeps proxies from closing a stream that waits long for people.
      if (Date.now() - quietSince >= KEEPALIVE_MS) {
        await stream.write(': keepalive\n\n');
        quietSince = Date.now();
      }
      const pause = announced > sent || !deps.executor.holds?.(runId) ? deps.pollMs : HELD_POLL_MS;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, pause);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
        if (stopped) wake();
      });
    }
    return 'stopped';
  } finally {
    unsubscribe();
    deps.streams.delete(stop);
  }
}
