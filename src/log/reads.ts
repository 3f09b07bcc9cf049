import { applyPatchInPlace } from './patch.ts';
import type { Json } from './record.ts';
import type { HistoryEntry, RunStore } from './runStore.ts';
import { CorruptRecordError, InvalidPatchError, RecordNotFoundError } from './storageErrors.ts';

/**
 * Returns the normalized persisted snapshot after record `seq`: the nearest keyframe, then the patches after it.
 * @example
 * const snapshot = await stateAt(store, runId, 12);
 */
export async function stateAt(store: RunStore, runId: string, seq: number): Promise<Json> {
  const { lastSeq } = await store.summary(runId);
  if (!Number.isInteger(seq) || seq < 0 || seq > lastSeq) throw new RecordNotFoundError(runId, seq, lastSeq);
  const keyframe = await store.keyframeAtOrBefore(runId, seq);
  if (keyframe?.snapshot === undefined) {
    throw new CorruptRecordError(`Run "${runId}" has no keyframe at or before record ${seq} (record 0 must be one): restore the run from a backup.`, { runId, seq });
  }
  let doc = keyframe.snapshot;
  if (keyframe.seq === seq) return doc;
  const records = await store.read(runId, { from: keyframe.seq + 1, to: seq });
  if (records.length !== seq - keyframe.seq) {
    throw new CorruptRecordError(`Run "${runId}" is missing records between ${keyframe.seq} and ${seq}: restore the run from a backup.`, { runId, seq });
  }
  for (const record of records) {
    try {
      doc = applyPatchInPlace(doc, record.patch, { owned: true });
    } catch (error) {
      if (!(error instanceof InvalidPatchError)) throw error;
      throw new CorruptRecordError(
        `Run "${runId}" record ${record.seq} has a patch that does not apply to the snapshot before it (${error.message}): truncate the run to record ${record.seq - 1} with \`statecraft repair ${runId}\`.`,
        { runId, seq: record.seq },
        { cause: error },
      );
    }
  }
  return doc;
}

/**
 * Returns each record's seq, time, event type, state value and meta, without reading snapshots.
 * @example
 * for (const line of await history(store, runId)) console.log(line.seq, line.eventType);
 */
export async function history(store: RunStore, runId: string): Promise<HistoryEntry[]> {
  return store.readHistory(runId);
}
