import { LeaseLostError } from '../log/format/storageErrors.ts';
import type { Lease } from '../log/stores/postgres/runLeases.ts';
import type { Run } from '../runtime/Run.ts';

/** A run this worker holds or is taking: its lease once taken, its Run once started. */
export interface Slot {
  runId: string;
  lease?: Lease;
  run?: Run;
  /** performance.now() by which the lease ends unless renewed (measured from before the renewal was asked). */
  deadline: number;
  lost?: string;
  paused?: boolean;
}

export const ENDED = new Set(['done', 'failed', 'halted', 'cancelled']);

/** The first LeaseLostError in an error's chain of causes. */
export function leaseLost(error: unknown): LeaseLostError | undefined {
  for (let at = error, depth = 0; at && depth < 5; at = (at as { cause?: unknown }).cause, depth++) if (at instanceof LeaseLostError) return at;
  return undefined;
}

export const message = (error: unknown) => (error instanceof Error ? error.message : String(error));
