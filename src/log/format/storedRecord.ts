import { decodeText, encodeText, isChecked, UnknownEncodingError } from './codec.ts';
import { findUnsafePath, jsonTextOf } from './patch.ts';
import { FORMAT_VERSION, parseRecord, repairHint, sealLazily } from './record.ts';
import type { Json, Operation, RunRecord } from './record.ts';
import type { HistoryEntry } from '../stores/runStore.ts';
import { CorruptRecordError, UnsafePatchError, UnsupportedFormatError } from './storageErrors.ts';

/**
 * A record as stores keep it, in three encoded texts: the body (everything a history line needs), the
 * patch, and the snapshot if it is a keyframe. History listings read bodies only and state
 * reconstruction reads patches only. Rows written before the split keep the patch inside the body
 * and `patch` null. Each text carries its codec's check. A record of a chained run (format 3 on) keeps
 * its checksum in the body; any other record's is not stored, and a record read back works it out
 * from its content when asked (rows written before the split keep theirs in the body).
 */
export interface StoredRecord {
  body: string | Uint8Array;
  patch: string | Uint8Array | null;
  snapshot: string | Uint8Array | null;
}

/** One record's patch, as state reconstruction reads it. */
export interface PatchEntry {
  seq: number;
  patch: Operation[];
}

/**
 * Splits a record into the encoded texts a store writes; the run id is the row's key, so the body
 * leaves it out. A record of a chained run keeps its checksum in the body (`chained`): it was worked
 * out from the record before it when written, and cannot be worked out from the record alone.
 */
export function splitRecord(record: RunRecord, chained = false): StoredRecord {
  // Named one by one: reading `checksum` would work out a lazily sealed record's checksum for nothing.
  const { v, seq, time, event, state, meta, snapshot, patch } = record;
  const body: Record<string, unknown> = meta === undefined ? { v, seq, time, event, state } : { v, seq, time, event, state, meta };
  if (chained) body.checksum = record.checksum;
  const snapshotText = snapshot === undefined ? undefined : ((typeof snapshot === 'object' && snapshot !== null && jsonTextOf.get(snapshot)) || JSON.stringify(snapshot));
  return {
    body: encodeText(JSON.stringify(body)),
    patch: encodeText(jsonTextOf.get(patch) ?? JSON.stringify(patch)),
    snapshot: snapshotText === undefined ? null : encodeText(snapshotText),
  };
}

function parseText(stored: string | Uint8Array, what: string, runId: string, seq: number): unknown {
  try {
    return JSON.parse(decodeText(stored));
  } catch (error) {
    if (error instanceof UnknownEncodingError) {
      throw new UnsupportedFormatError(
        `Run "${runId}" record ${seq} ${what} is stored in encoding 0x${error.encoding.toString(16)}, which this build of Statecraft does not know: upgrade Statecraft to read this run.`,
        { runId, seq },
        `encoding 0x${error.encoding.toString(16)}`,
        FORMAT_VERSION,
      );
    }
    throw new CorruptRecordError(
      `Run "${runId}" record ${seq} ${what} cannot be read (${(error as Error).message}); the log was cut short (a torn tail) or altered: ${repairHint(runId)}.`,
      { runId, seq },
      { cause: error },
    );
  }
}

/** Parses and validates a stored record (body, patch and snapshot texts) read back from a store. */
export function joinRecord(stored: StoredRecord, runId: string, seq: number): RunRecord {
  const body = parseText(stored.body, 'text', runId, seq);
  // Encoded rows carry zlib's or CRC-32's check, verified as they are decoded; plain-text rows are checked by checksum.
  const checked = isChecked(stored.body) && (stored.patch === null || stored.patch === undefined || isChecked(stored.patch));
  let unsealed = false;
  if (typeof body === 'object' && body !== null) {
    const fields = body as Record<string, unknown>;
    if (fields.runId === undefined) fields.runId = runId;
    if (stored.patch !== null && stored.patch !== undefined) fields.patch = parseText(stored.patch, 'patch', runId, seq);
    if (stored.snapshot !== null) fields.snapshot = parseText(stored.snapshot, 'snapshot', runId, seq);
    // A checked row without a checksum was written that way; a plain-text row without one is refused below.
    if (checked && fields.checksum === undefined) {
      fields.checksum = UNSEALED;
      unsealed = true;
    }
  }
  const record = parseRecord(body, { runId, seq }, { verifyChecksum: !checked });
  if (!unsealed) return record;
  const { checksum: _placeholder, ...rest } = record;
  return sealLazily(rest);
}

/** Stands in for a checksum the row does not hold while the record's shape is checked. */
const UNSEALED = 'unsealed';

const OPS = new Set(['add', 'remove', 'replace', 'move', 'copy', 'test']);

/**
 * Reads a stored record's patch for state reconstruction: the storage codec's check and the shape of
 * each op are verified (by hand: a long reconstruction reads thousands), the record's checksum is not.
 */
export function patchEntry(stored: Pick<StoredRecord, 'body' | 'patch'>, runId: string, seq: number): PatchEntry {
  const patch =
    stored.patch === null || stored.patch === undefined
      ? (parseText(stored.body, 'text', runId, seq) as { patch?: unknown } | null)?.patch
      : parseText(stored.patch, 'patch', runId, seq);
  const bad = (): never => {
    throw new CorruptRecordError(`Run "${runId}" record ${seq} has a patch that does not match the record format: ${repairHint(runId)}.`, { runId, seq });
  };
  if (!Array.isArray(patch)) return bad();
  for (const op of patch as Array<Record<string, unknown> | null>) {
    if (typeof op !== 'object' || op === null || !OPS.has(op.op as string) || typeof op.path !== 'string') bad();
    const withValue = op!.op === 'add' || op!.op === 'replace' || op!.op === 'test';
    if ((withValue && op!.value === undefined) || ((op!.op === 'move' || op!.op === 'copy') && typeof op!.from !== 'string')) bad();
    if ((op!.path as string) !== '' && !(op!.path as string).startsWith('/')) bad();
  }
  const ops = patch as Operation[];
  const unsafe = findUnsafePath(ops);
  if (unsafe !== undefined) {
    throw new UnsafePatchError(
      `Run "${runId}" record ${seq} has a patch path "${unsafe}" through __proto__, constructor or prototype, refused as unsafe: ${repairHint(runId)}.`,
      unsafe,
      { runId, seq },
    );
  }
  return { seq, patch: ops };
}

/** Reads the history fields of a stored record body, checking format version and shape but not the checksum. */
export function historyEntry(bodyText: string | Uint8Array, runId: string, seq: number): HistoryEntry {
  const body = parseText(bodyText, 'text', runId, seq) as Record<string, unknown> | null;
  if (body?.v !== FORMAT_VERSION) {
    throw new UnsupportedFormatError(
      `Run "${runId}" record ${seq} has format version ${JSON.stringify(body?.v)}, but this build of Statecraft reads format version ${FORMAT_VERSION} only: upgrade Statecraft to read this run.`,
      { runId, seq },
      body?.v,
      FORMAT_VERSION,
    );
  }
  // Checked by hand, not with zod: listing a long history reads thousands of these.
  const { time, event, state, meta } = body as { time?: unknown; event?: { type?: unknown }; state?: unknown; meta?: unknown };
  const metaOk = meta === undefined || (typeof meta === 'object' && meta !== null && !Array.isArray(meta));
  if (body.seq !== seq || typeof time !== 'string' || typeof event?.type !== 'string' || state === undefined || !metaOk) {
    throw new CorruptRecordError(`Run "${runId}" record ${seq} does not match the record format: ${repairHint(runId)}.`, { runId, seq });
  }
  const entry = { seq, time, eventType: event.type, event: event as HistoryEntry['event'], state: state as Json };
  return meta === undefined ? entry : { ...entry, meta: meta as HistoryEntry['meta'] };
}
