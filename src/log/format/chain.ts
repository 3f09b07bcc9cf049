import { createHash } from 'node:crypto';
import { canonicalJson, NonJsonError } from './canonicalJson.ts';
import { decodeText } from './codec.ts';
import { CHAINED_FORMAT, contentChecksum, isLazilySealed, repairHint } from './record.ts';
import type { RunHeader, RunRecord, UnsealedRecord } from './record.ts';
import { CorruptRecordError } from './storageErrors.ts';

/**
 * Whether a run's records are chained (runs created from format 3 on): each record's checksum is
 * worked out when it is written, over its content and the checksum of the record before it (the
 * header's, for record 0), and stored with it. Runs created before keep checksums of their content alone.
 */
export const isChained = (header: { format: unknown }): boolean => typeof header.format === 'number' && header.format >= CHAINED_FORMAT;

/** The canonical text of a record's content, as a store keeps it (a value JSON cannot hold is read back in its JSON form). */
function contentText(record: UnsealedRecord): string {
  const rest: Record<string, unknown> = {};
  // Read key by key: a lazily sealed record's checksum getter is never touched.
  for (const key of Object.keys(record)) if (key !== 'checksum') rest[key] = (record as Record<string, unknown>)[key];
  try {
    return canonicalJson(rest);
  } catch (error) {
    if (!(error instanceof NonJsonError)) throw error;
    return canonicalJson(JSON.parse(JSON.stringify(rest)));
  }
}

/** The checksum of a record of a chained run: over the checksum before it (`previous`) and its own content. */
export function chainedChecksum(previous: string, record: UnsealedRecord): string {
  return createHash('sha256').update(previous).update('\n').update(contentText(record)).digest('hex').slice(0, 16);
}

/**
 * Seals records of a chained run in seq order, the first continuing from `previous`: each record's
 * checksum is set (in place) to its place in the chain. Returns the last record's checksum.
 */
export function sealChain(previous: string, records: readonly RunRecord[]): string {
  let last = previous;
  for (const record of records) {
    last = chainedChecksum(last, record);
    Object.defineProperty(record, 'checksum', { value: last, enumerable: true, configurable: true, writable: true });
  }
  return last;
}

/** The checksum a stored body of a chained run carries: the link an append continues from. */
export function checksumInBody(body: string | Uint8Array, runId: string, seq: number): string {
  let checksum: unknown;
  try {
    checksum = (JSON.parse(decodeText(body)) as { checksum?: unknown } | null)?.checksum;
  } catch (error) {
    throw new CorruptRecordError(
      `Run "${runId}" record ${seq} cannot be read (${(error as Error).message}), so no record can be appended after it: ${repairHint(runId)}.`,
      { runId, seq },
      { cause: error },
    );
  }
  if (typeof checksum === 'string' && checksum !== '') return checksum;
  throw new CorruptRecordError(
    `Run "${runId}" record ${seq} holds no checksum, which every record of a chained run carries: it was altered or damaged, so no record can be appended after it; ${repairHint(runId)}.`,
    { runId, seq },
  );
}

/** Where an append continues a run's chain from: the header's checksum for record 0, else the previous record's. */
export interface ChainStart {
  chained: boolean;
  previous?: string;
}

/**
 * What a store needs to seal a batch: whether the run is chained (from its header's format) and the
 * checksum the batch continues from. `header` is the stored header text's format and checksum;
 * `previousBody` the stored body of record `expectedSeq - 1` (absent for record 0).
 */
export function chainStart(
  runId: string,
  expectedSeq: number,
  header: { format: unknown; checksum: unknown },
  previousBody: string | Uint8Array | null | undefined,
): ChainStart {
  if (!isChained(header)) return { chained: false };
  if (expectedSeq === 0) {
    if (typeof header.checksum !== 'string' || header.checksum === '') {
      throw new CorruptRecordError(`Run "${runId}" header has no checksum, which format ${header.format} headers always carry: it was altered or damaged; restore the run from a backup.`, { runId });
    }
    return { chained: true, previous: header.checksum };
  }
  // No previous record: the append's seq check refuses the batch, naming the seq the run is at.
  if (previousBody === null || previousBody === undefined) return { chained: true };
  return { chained: true, previous: checksumInBody(previousBody, runId, expectedSeq - 1) };
}

/**
 * Follows a run's records in seq order from its header and tells, of each, whether it holds the
 * checksum it was sealed with: in a chained run, over its content and the checksum before it; in a
 * run of format 1, over its content (a record whose checksum is worked out when read holds it by
 * definition). After a record that is missing or was not given (it could not be read), the next one
 * cannot be checked against it and is taken as it is.
 */
export class ChainWalk {
  readonly chained: boolean;
  #previous: string | undefined;
  #next = 0;

  constructor(header: RunHeader) {
    this.chained = isChained(header);
    this.#previous = header.checksum;
  }

  holds(record: RunRecord): boolean {
    const linked = record.seq === this.#next && this.#previous !== undefined;
    const expected = !this.chained
      ? isLazilySealed(record)
        ? record.checksum
        : contentChecksum(record)
      : linked
        ? chainedChecksum(this.#previous!, record)
        : record.checksum;
    this.#previous = record.checksum;
    this.#next = record.seq + 1;
    return expected === record.checksum;
  }
}

/** Why a record does not hold its checksum, in the words of a report about the run. */
export const alteredDetail = (seq: number, chained: boolean): string =>
  chained
    ? `record ${seq} does not hold the checksum it was written with (over its content and the checksum ${seq === 0 ? 'of the header' : `of record ${seq - 1}`}): it, or ${seq === 0 ? 'the header' : 'the record before it'}, was changed after it was written`
    : `record ${seq} fails its checksum: it was changed after it was written`;
