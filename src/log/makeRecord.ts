import { diff, normalize, normalizeKeepingText } from './patch.ts';
import { FORMAT_VERSION, sealRecord } from './record.ts';
import type { Json, RunRecord } from './record.ts';

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
 * @example
 * const record = makeRecord({ runId, seq, event, state: snap.value, previous, snapshot: actor.getPersistedSnapshot(), keyframe: seq % 50 === 0 });
 */
export function makeRecord(input: TransitionInput): RunRecord {
  const keyframe = input.seq === 0 || input.keyframe === true;
  return sealRecord({
    v: FORMAT_VERSION,
    runId: input.runId,
    seq: input.seq,
    time: input.time ?? new Date().toISOString(),
    event: normalize(input.event) as RunRecord['event'],
    state: normalize(input.state) as Json,
    patch: input.seq === 0 ? [] : diff(input.previous, input.snapshot),
    ...(keyframe ? { snapshot: normalizeKeepingText(input.snapshot) } : {}),
    ...(input.meta === undefined ? {} : { meta: input.meta }),
  });
}
