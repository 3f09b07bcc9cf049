import { createHash } from 'node:crypto';
import { chainStart, isChained, type ChainStart } from '../format/chain.ts';
import { checkExpectedSeq } from './runStore.ts';

/** What a store read of a run to seal a batch: its header's format and checksum, the body of the record before the batch, and its last seq. */
export interface ChainHeadRow {
  format: unknown;
  checksum: unknown;
  body: Uint8Array | null;
  last: number | null;
}

/** Where a batch continues its run's chain from, and the SHA-256 of the stored body it continues (null for record 0 or an unchained run). */
export interface BatchStart {
  start: ChainStart;
  previous: Buffer | null;
}

interface Known {
  format: unknown;
  checksum: unknown;
  last?: { seq: number; checksum: string; digest: Buffer };
}

const sha256 = (data: Uint8Array): Buffer => createHash('sha256').update(data).digest();

/**
 * Where each run's chain stands as a store that appends in one round trip last saw it (its header,
 * the last record it wrote), so that sealing a batch costs no read. What it remembers may be stale
 * (another process cut the run back and wrote it again): the append checks the digest of the record
 * the batch continues against the stored one, and the store reads afresh when it differs.
 */
export class ChainHeads {
  readonly #known = new Map<string, Known>();

  /** Forget a run (deleted, cut back, or its append failed). */
  forget(runId: string): void {
    this.#known.delete(runId);
  }

  /** A run this store created, with the header it stored. */
  created(runId: string, header: { format: unknown; checksum?: unknown }): void {
    this.#known.set(runId, { format: header.format, checksum: header.checksum });
  }

  /** A batch of a chained run was written: its last record's seq, checksum and stored body. */
  written(runId: string, seq: number, checksum: string, body: Uint8Array): void {
    const known = this.#known.get(runId);
    if (known) known.last = { seq, checksum, digest: sha256(body) };
  }

  /** Where a batch from `expectedSeq` continues: from what is known, or from `read` (one query) when it is not, or when `fresh`. */
  async start(runId: string, expectedSeq: number, fresh: boolean, read: () => Promise<ChainHeadRow>): Promise<BatchStart> {
    const known = fresh ? undefined : this.#known.get(runId);
    if (known && !isChained(known)) return { start: { chained: false }, previous: null };
    if (known && expectedSeq === 0) return { start: chainStart(runId, 0, known, null), previous: null };
    if (known?.last?.seq === expectedSeq - 1) return { start: { chained: true, previous: known.last.checksum }, previous: known.last.digest };
    const row = await read();
    this.#known.set(runId, { format: row.format, checksum: row.checksum });
    // No record before the batch: the seq is wrong, said as the append would say it.
    if (expectedSeq > 0 && row.body === null) checkExpectedSeq(runId, expectedSeq, row.last ?? -1);
    const start = chainStart(runId, expectedSeq, row, row.body);
    return { start, previous: start.chained && row.body !== null ? sha256(row.body) : null };
  }
}
