import { UserError } from '../errors.ts';
import { ENDED_STATUSES } from '../log/format/record.ts';
import type { RunStore } from '../log/stores/runStore.ts';
import { PostgresStore } from '../log/stores/postgres/postgresStore.ts';
import { decisionTarget } from '../runtime/waitingCalls.ts';
import { submittedToWorkers } from '../runtime/workersRun.ts';
import { RunQueue } from './runQueue.ts';

/** A decision on one waiting call of a workers' run, as it is kept until a worker records it. */
export type QueuedDecision = (
  | { kind: 'approve'; callId: string; by: string; actor?: string; argsHash?: string; always?: boolean }
  | { kind: 'reject'; callId: string; by: string; reason: string; actor?: string; argsHash?: string }
) & {
  /** The run's last record when the decision was made: it answers the wait seen then, and no later one (set by decideQueued). */
  atSeq?: number;
};

/** A call a run waits on, as its summary records it (`waitingOn`). */
interface StoredCall {
  callId: string;
  tool: string;
  argsHash?: string;
  actor?: string;
}

/**
 * Whether the run belongs to the workers: it was submitted with `submitRun` (or `statecraft submit`),
 * which gives it a row in the PostgreSQL store's `run_leases`. Such a run is continued by a worker,
 * never by the process that decides on it.
 */
export async function isWorkersRun(store: RunStore, runId: string): Promise<boolean> {
  return submittedToWorkers(store, runId);
}

/**
 * Records decisions on a waiting workers' run and queues its continuation, without running the agent
 * here: each decision is checked against the calls the run's summary lists (an unknown call, or an
 * `argsHash` other than the call's, is refused and nothing is recorded), bound to the arguments hash
 * on record, and kept in the store with the run's ticket in one transaction. The worker that takes
 * the ticket resumes the run and sends the decisions to it, where the hash is checked again.
 * @example
 * await decideQueued(store, runId, [{ kind: 'approve', callId: 'call_1', by: 'ana' }]);
 */
export async function decideQueued(store: PostgresStore, runId: string, decisions: readonly QueuedDecision[]): Promise<QueuedDecision[]> {
  const { status, waitingOn, lastSeq } = await store.summary(runId);
  const waiting = Array.isArray(waitingOn) ? (waitingOn as StoredCall[]) : [];
  if (ENDED_STATUSES.includes(status) || waiting.length === 0) {
    throw new UserError(`Run ${runId} has no tool call waiting for approval (its status is ${status}), so nothing was decided.`);
  }
  if (decisions.length === 0) throw new UserError(`Run ${runId}: no decision was given, so nothing was decided.`);
  const view = (call: StoredCall) => ({ id: call.callId, name: call.tool, ...(call.argsHash === undefined ? {} : { argsHash: call.argsHash }), ...(call.actor === undefined ? {} : { path: call.actor }) });
  const bound = decisions.map((decision) => {
    const call = decisionTarget(runId, waiting, view, decision.callId, { hash: decision.argsHash, actor: decision.actor }, () =>
      `Run ${runId}: no tool call ${decision.callId} is waiting for approval, so nothing was decided. ` +
        `Calls waiting: ${waiting.map((candidate) => `${candidate.callId} (${candidate.tool}${candidate.actor === undefined ? '' : `, in ${candidate.actor}`})`).join(', ')}.`,
    );
    const argsHash = decision.argsHash ?? call.argsHash;
    return { ...decision, actor: decision.actor ?? call.actor ?? '', ...(argsHash === undefined ? {} : { argsHash }), atSeq: lastSeq };
  });
  const runs = await RunQueue.open(store, { supervise: false });
  try {
    const leases = store.leases();
    const recorded = await leases.decide(runId, bound, (db, run) => runs.requeue(run, db));
    if (!recorded) throw new UserError(`Run ${runId} was not submitted to the workers (it has no lease row), so its decisions are not queued: decide on it with statecraft approve or reject, which resume it here.`);
  } finally {
    await runs.close();
  }
  return bound;
}
