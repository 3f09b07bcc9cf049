import { diff, plainJsonKeepingText, plainJson } from './patch.ts';
import { FORMAT_VERSION, sealLazily } from './record.ts';
import type { Json, RunRecord, UnsealedRecord } from './record.ts';

/** What `makeRecord` needs to describe one transition. */
export interface TransitionInput {
  runId: string;
  seq: number;
  event: { type: string } & Record<string, unknown>;
  state: unknown;
  /** The persisted snapshot before the transition; ignored for seq 0. */
  previous?: unknown;
  /** The persisted snapshot after the transition. */
  snapshot: unknown;
  keyframe?: boolean;
  time?: string;
  meta?: RunRecord['meta'];
}

/**
 * Builds a sealed record: the patch from `previous` to `snapshot`, plus the full snapshot when it is a keyframe (always for seq 0).
 * Its checksum is worked out when first read (`sealLazily`).
 * @example
 * const record = makeRecord({ runId, seq, event, state: snap.value, previous, snapshot: actor.getPersistedSnapshot(), keyframe: seq % 50 === 0 });
 */
export function makeRecord(input: TransitionInput): RunRecord {
  return sealLazily(unsealedRecord(input));
}

/** `makeRecord` before sealing, for a writer that changes the record first (redaction). */
export function unsealedRecord(input: TransitionInput): UnsealedRecord {
  const keyframe = input.seq === 0 || input.keyframe === true;
  return {
    v: FORMAT_VERSION,
    runId: input.runId,
    seq: input.seq,
    time: input.time ?? new Date().toISOString(),
    // Shared with the transition, not copied: a machine's events and states are never changed in place.
    event: plainJson(input.event) as RunRecord['event'],
    state: plainJson(input.state),
    patch: input.seq === 0 ? [] : diff(input.previous, input.snapshot),
    ...(keyframe ? { snapshot: plainJsonKeepingText(input.snapshot) } : {}),
    ...(input.meta === undefined ? {} : { meta: input.meta }),
  };
}
