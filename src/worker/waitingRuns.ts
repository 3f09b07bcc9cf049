import type { RunStore } from '../log/stores/runStore.ts';
import type { AgentContext } from '../protocol/agent.ts';
import type { Run } from '../runtime/Run.ts';
import type { QueuedDecision } from './decideQueued.ts';

/** The decisions a worker sent to a run it resumed: the rows they came from, and the calls they named. */
export interface SentDecisions {
  /** Ids of the decision rows handled here (sent, or refused for good): removed when the worker lets go of the run. */
  settled: number[];
  /** `actor␀callId` of each call a decision was sent for. */
  calls: Set<string>;
  applied: number;
  refused: string[];
}

const callKey = (actor: string | undefined, callId: string) => `${actor ?? ''}\u0000${callId}`;

/** Records after which an earlier decision on a call no longer answers it: the call was decided, started or asked about again. */
const SUPERSEDING = new Set(['APPROVE', 'REJECT', 'APPROVAL_EXPIRED', 'TOOL_STARTED', 'TOOL_INTERRUPTED', 'TOOL_FINISHED']);

/** Tells, for a queued decision made at record `atSeq`, the record since then that answered its call already, if any. */
export type Superseded = (atSeq: number | undefined, callId: string) => number | undefined;

/**
 * Reads what the run recorded since its queued decisions were made. A decision answers the wait its
 * maker saw: if the call was decided or started since (the worker that applied an earlier decision
 * died before clearing it, and the call now asks again), applying it again could run a call that
 * already ran, so it is dropped instead.
 */
export async function supersededBy(store: RunStore, runId: string, rows: readonly { decision: unknown }[]): Promise<Superseded> {
  const seqs = rows.flatMap(({ decision }) => (Array.isArray(decision) ? decision : [decision]) as QueuedDecision[]).map((one) => one.atSeq).filter((seq): seq is number => typeof seq === 'number');
  if (seqs.length === 0) return () => undefined;
  const since = (await store.readHistory(runId, { from: Math.min(...seqs) + 1 })).filter((entry) => SUPERSEDING.has(entry.eventType));
  return (atSeq, callId) => {
    if (atSeq === undefined) return undefined;
    const callOf = (event: unknown) => (event as { callId?: unknown } | undefined)?.callId;
    return since.find((entry) => entry.seq > atSeq && (entry.eventType === 'APPROVAL_EXPIRED' || callOf(entry.event) === callId))?.seq;
  };
}

/**
 * Sends queued decisions to a run just resumed, each bound to the arguments hash it was made for. A
 * decision the run refuses (its call no longer waits, as when an earlier worker already recorded it
 * and died before clearing it, or its arguments differ) is dropped with the reason.
 */
export function sendDecisions(run: Run, rows: readonly { id: number; decision: unknown }[], superseded: Superseded = () => undefined): SentDecisions {
  const sent: SentDecisions = { settled: [], calls: new Set(), applied: 0, refused: [] };
  for (const { id, decision } of rows) {
    sent.settled.push(id);
    for (const one of (Array.isArray(decision) ? decision : [decision]) as QueuedDecision[]) {
      const since = superseded(one.atSeq, one.callId);
      if (since !== undefined) {
        sent.refused.push(`Run ${run.runId}: the decision on call ${one.callId} made at record ${one.atSeq} was dropped: record ${since} answered that call since (it was decided, started or asked about again). Decide again on what the run waits for now.`);
        continue;
      }
      const bound = { by: one.by, ...(one.actor === undefined ? {} : { actor: one.actor }), ...(one.argsHash === undefined ? {} : { argsHash: one.argsHash }) };
      try {
        if (one.kind === 'reject') run.reject(one.callId, one.reason, bound);
        else run.approve(one.callId, { ...bound, ...(one.always ? { always: true } : {}) });
        sent.calls.add(callKey(one.actor, one.callId));
        sent.applied++;
      } catch (error) {
        sent.refused.push(error instanceof Error ? error.message : String(error));
      }
    }
  }
  return sent;
}

/** The next time a waiting run must be woken, epoch ms: its approval deadline or its own deadline, whichever is first. */
export function wakeAt(context: Readonly<AgentContext> | undefined): number | undefined {
  // A turn's approval deadline counts only while a call of that turn awaits a decision: once decided, it is stale.
  const awaiting = context?.turn?.calls.some((call) => call.status === 'awaiting') ?? false;
  const times = [awaiting ? context?.turn?.approvalDeadlineAt : undefined, context?.limits?.deadlineAt].filter((at): at is number => typeof at === 'number');
  return times.length ? Math.min(...times) : undefined;
}

/**
 * Whether a worker keeps a waiting run rather than letting go of it: a decision sent to it has not
 * been taken in yet (its call still waits), or a deadline of it has passed, whose timer in the run
 * fires at once and applies the default.
 */
export function keepsWaiting(run: Run, sent: SentDecisions | undefined): boolean {
  if (sent?.calls.size) {
    if (run.pendingApprovals.some((call) => sent.calls.has(callKey(call.actor, call.id)))) return true;
    // Taken in: a later turn may wait on a call with the same id, which no decision here was for.
    sent.calls.clear();
  }
  const at = wakeAt(run.context);
  return at !== undefined && at <= Date.now();
}
