import type { Json, RunSummary } from '../log/format/record.ts';
import type { RunStore } from '../log/stores/runStore.ts';
import { CorruptRecordError } from '../log/format/storageErrors.ts';
import { scanRun, type RecordDamage } from '../log/reads/scanRun.ts';
import { assertNotInUse } from '../recorder/owner.ts';
import { summarize } from '../log/stores/summarize.ts';
import { forkableAt } from './forkRun.ts';

/**
 * What repair can do for a run. Only a damaged tail (no intact record after the first damaged one)
 * is ever cut; damage followed by intact records, or in record 0, is refused.
 */
export type RepairPlan =
  | { kind: 'intact'; lastSeq: number }
  /** Every record is intact but the summary cannot be read: it is rebuilt from the last state. */
  | { kind: 'summary'; lastSeq: number; why: string }
  /** Records `damage[0].seq` to `lastSeq` are all damaged or missing: cut back to `keep`. */
  | { kind: 'tail'; damage: RecordDamage[]; keep: number; lastSeq: number; state: string }
  /** Record 0 is damaged: the run has no good state to keep. */
  | { kind: 'firstRecord'; damage: RecordDamage[] }
  /** Damaged records with intact ones after the first: `lastGood` is the last record before the damage. */
  | { kind: 'intactFollow'; damage: RecordDamage[]; intactAfter: number[]; lastGood: number; forkFrom: number };

/** The plan with what carrying it out needs: the state the run will end in. */
interface Planned {
  plan: RepairPlan;
  state?: Json;
}

/**
 * Scans a run (`scanRun`) and says what repair would do, changing nothing.
 * @example
 * const plan = await planRepair(store, runId);
 */
export async function planRepair(store: RunStore, runId: string): Promise<RepairPlan> {
  return (await planned(store, runId)).plan;
}

async function planned(store: RunStore, runId: string): Promise<Planned> {
  const scan = await scanRun(store, runId);
  const { damage, lastGood, lastSeq } = scan;
  const first = damage[0];
  if (!first) {
    if (!scan.summaryError) return { plan: { kind: 'intact', lastSeq } };
    return { plan: { kind: 'summary', lastSeq, why: scan.summaryError.message }, ...(lastGood ? { state: lastGood.state } : {}) };
  }
  if (first.seq === 0 || !lastGood) return { plan: { kind: 'firstRecord', damage } };
  const damaged = new Set(damage.map((entry) => entry.seq));
  const intactAfter: number[] = [];
  for (let seq = first.seq + 1; seq <= lastSeq; seq++) if (!damaged.has(seq)) intactAfter.push(seq);
  if (intactAfter.length > 0) {
    // A fork starts outside a tool call: from the last good record, or from before the call running there.
    const forkFrom = await forkableAt(store, runId, lastGood.seq, lastGood.state);
    return { plan: { kind: 'intactFollow', damage, intactAfter, lastGood: lastGood.seq, forkFrom } };
  }
  const value = (lastGood.state as { value?: unknown } | null)?.value;
  const state = typeof value === 'string' ? value : JSON.stringify(value);
  return { plan: { kind: 'tail', damage, keep: lastGood.seq, lastSeq, state }, state: lastGood.state };
}

/**
 * Carries out what `planRepair` says when it can: cuts a damaged tail, or rebuilds a summary that
 * cannot be read, writing the summary from the state the run now ends in. Any other plan changes
 * nothing. Returns the plan and how many records were removed.
 * @example
 * const { plan, removed } = await repairRun(store, runId);
 */
export async function repairRun(store: RunStore, runId: string): Promise<{ plan: RepairPlan; removed: number }> {
  const { plan, state } = await planned(store, runId);
  if (plan.kind !== 'tail' && plan.kind !== 'summary') return { plan, removed: 0 };
  if (plan.kind === 'tail') await assertNotRunning(store, runId);
  const keep = plan.kind === 'tail' ? plan.keep : plan.lastSeq;
  const removed = await store.truncate(runId, keep, factsOf(state));
  return { plan, removed };
}

/** Refuses to cut a run another process is running; a summary that cannot be read names no such process. */
async function assertNotRunning(store: RunStore, runId: string): Promise<void> {
  try {
    assertNotInUse(await store.summary(runId));
  } catch (error) {
    if (!(error instanceof CorruptRecordError)) throw error;
  }
}

/** The listing facts of the state a run ends in; what only the removed records said (why it ended, what it waited on, who ran it) goes. */
function factsOf(state: Json | undefined): Partial<RunSummary> {
  const cleared = { reason: undefined, waitingOn: undefined, owner: undefined };
  return state === undefined ? cleared : { ...cleared, ...summarize(state as never) };
}
