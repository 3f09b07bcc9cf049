import { UserError } from '../errors.ts';
import { ENDED_STATUSES, type RunSummary } from '../log/format/record.ts';
import { LeaseLostError } from '../log/format/storageErrors.ts';
import type { RunStore } from '../log/stores/runStore.ts';
import { liveOwner } from '../recorder/owner.ts';
import { delay } from '../delay.ts';
import type { Run } from './Run.ts';

export interface CancelRunOptions {
  /** Why, as the log records it (`CANCEL` event, and the run's reason). */
  reason?: string;
  /**
   * Resumes, in this process, a run that no process holds (waiting for approval, a fork never
   * started, a run whose process is gone), so that it is cancelled here and recorded so.
   */
  resume(runId: string): Promise<Run>;
  /** How long to wait for the process running the run to record the cancel; 15 s by default. */
  waitMs?: number;
}

export interface CancelOutcome {
  /** `requested`: sent to the process running the run; `here`: resumed and cancelled in this process. */
  how: 'requested' | 'here';
  /** The run's summary afterwards: `cancelled`, or still `running` when its process did not answer in time. */
  summary: RunSummary;
}

const ENDED = new Set<string>(ENDED_STATUSES);

/**
 * Cancels a run wherever it runs: a run another process is running is asked to stop through the
 * store's live channel, and that process records the cancel as `Run.cancel` does; any other run not
 * ended is resumed here and cancelled.
 * @example
 * const { summary } = await cancelRun(store, runId, { reason: 'Not needed.', resume: (id) => resumeRun(agent, id, { store }) });
 */
export async function cancelRun(store: RunStore, runId: string, options: CancelRunOptions): Promise<CancelOutcome> {
  const reason = options.reason ?? 'Cancelled.';
  const summary = await store.summary(runId);
  if (ENDED.has(summary.status)) {
    throw new UserError(`Run ${runId} already ended (${summary.status}${summary.reason ? `: ${summary.reason}` : ''}); there is nothing to cancel.`);
  }
  if (summary.status === 'queued') return cancelQueued(store, runId, reason);
  const owner = liveOwner(summary);
  if (!owner) {
    const run = await options.resume(runId);
    run.cancel(reason);
    await run.result;
    return { how: 'here', summary: await store.summary(runId) };
  }
  const channel = store.liveChannel?.();
  if (!channel) {
    throw new UserError(
      `Run ${runId} is running in another process (pid ${owner.pid} on ${owner.host}), and this store has no live channel to ask it to stop: stop it there (Ctrl-C, or run.cancel()).`,
    );
  }
  const waitMs = options.waitMs ?? 15_000;
  const until = Date.now() + waitMs;
  let askedAt = 0;
  for (;;) {
    // Asked again every second: a message on the channel may be lost, and the run ignores a second one.
    if (Date.now() - askedAt >= 1000) {
      channel.publish({ type: 'cancel', runId, reason });
      askedAt = Date.now();
    }
    await delay(100);
    const now = await store.summary(runId);
    if (now.status !== 'running' || !liveOwner(now) || Date.now() >= until) return { how: 'requested', summary: now };
  }
}

/**
 * A run submitted to the workers' queue that no worker has started: marked cancelled where it is, and
 * a worker that takes its ticket later finds it ended and leaves it. One that a worker took meanwhile
 * holds a lease the write cannot pass: that worker's run is asked again as a running one.
 */
async function cancelQueued(store: RunStore, runId: string, reason: string): Promise<CancelOutcome> {
  try {
    await store.append(runId, [], { expectedSeq: 0, summary: { status: 'cancelled', reason: `cancelled: ${reason}` } });
  } catch (error) {
    if (!(error instanceof LeaseLostError)) throw error;
    throw new UserError(`Run ${runId} was taken by a worker while it was being cancelled: cancel it again, and it is asked to stop where it runs.`);
  }
  return { how: 'here', summary: await store.summary(runId) };
}
