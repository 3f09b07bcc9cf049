import { UserError } from '../errors.ts';
import { LeaseLostError } from '../log/format/storageErrors.ts';
import type { RunStore } from '../log/stores/runStore.ts';
import { LEASE_EPOCH } from '../runtime/workersRun.ts';

/**
 * The store as a worker holding one run's lease sees it: every append names the lease's epoch, so the
 * store itself refuses it once the lease is lost (LeaseLostError). Reads pass through; creating runs
 * is not a worker's to do. `onRefused` hears of each append the fence refused.
 */
export function fencedStore(store: RunStore, runId: string, epoch: number, onRefused?: (error: LeaseLostError) => void): RunStore {
  return new Proxy(store, {
    get(target, key) {
      if (key === LEASE_EPOCH) return epoch;
      if (key === 'append') {
        return (id: string, records: Parameters<RunStore['append']>[1], options: Parameters<RunStore['append']>[2]) => {
          if (id !== runId) throw new UserError(`A worker holding run ${runId} tried to append to run ${id}: a worker writes only to the runs it holds.`);
          return target.append(id, records, { ...options, lease: epoch }).catch((error: unknown) => {
            if (error instanceof LeaseLostError) onRefused?.(error);
            throw error;
          });
        };
      }
      if (key === 'createRun') {
        return () => Promise.reject(new UserError(`A worker holding run ${runId} tried to create a run: runs are created by submitRun (statecraft submit).`));
      }
      const value = Reflect.get(target, key, target) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}
