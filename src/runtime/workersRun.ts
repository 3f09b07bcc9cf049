import type { RunStore } from '../log/stores/runStore.ts';

/** The store a worker holding a run's lease writes through carries the lease's epoch under this key (see fencedStore). */
export const LEASE_EPOCH = Symbol.for('statecraft.leaseEpoch');

/**
 * Whether the run was submitted to the workers (`submitRun`, `statecraft submit`): its store keeps a
 * lease row for it, and only a worker holding that lease may continue it. A worker's own (fenced)
 * store answers false for the run it holds.
 */
export async function submittedToWorkers(store: RunStore, runId: string): Promise<boolean> {
  if ((store as { [LEASE_EPOCH]?: number })[LEASE_EPOCH] !== undefined) return false;
  const leases = (store as { leases?: () => { state(runId: string): Promise<unknown> } }).leases;
  return typeof leases === 'function' && (await leases.call(store).state(runId)) !== undefined;
}
