import { applyPatchShared } from '../format/applyPatch.ts';
import type { Json, RunRecord } from '../format/record.ts';
import type { RunStore } from '../stores/runStore.ts';
import { CorruptRecordError, InvalidPatchError, UnsupportedFormatError } from '../format/storageErrors.ts';

/**
 * One damaged record: it cannot be read, it is missing (a gap in the seqs), its patch does not apply
 * to the state before it, or (when a scan is given a `check`) it does not hold its checksum.
 */
export interface RecordDamage {
  seq: number;
  problem: 'unreadable' | 'missing' | 'patch' | 'altered';
  /** What is wrong, beginning "record N". */
  detail: string;
}

/** What a scan of a whole run found. */
export interface RunScan {
  /** The last seq the run has or should have (its summary's, or the last stored, whichever is greater); -1 for none. */
  lastSeq: number;
  /** Damaged records in seq order. */
  damage: RecordDamage[];
  /** The last record before the first damage (the last record when there is none), and the state after it. */
  lastGood?: { seq: number; state: Json };
  /** Why the run's summary cannot be read, when it cannot. */
  summaryError?: CorruptRecordError;
}

const PAGE = 500;

/** Options of `scanRun`: `check` is asked of each readable record in seq order, and says what is wrong with it, if anything. */
export interface ScanOptions {
  check?: (record: RunRecord) => RecordDamage | undefined;
}

type Entry = RunRecord | RecordDamage;

/**
 * Reads every record of a run and rebuilds every state from keyframes and patches, to find the
 * records `stateAt` would refuse. A record in a format this build does not read is not damage: the
 * UnsupportedFormatError is thrown.
 */
export async function scanRun(store: RunStore, runId: string, options: ScanOptions = {}): Promise<RunScan> {
  let summaryError: CorruptRecordError | undefined;
  let lastSeq = -1;
  try {
    lastSeq = (await store.summary(runId)).lastSeq;
  } catch (error) {
    if (!(error instanceof CorruptRecordError)) throw error;
    summaryError = error;
  }
  const walk = new Walk(options.check);
  for (let from = 0; ; from += PAGE) {
    const entries = await readPage(store, runId, from, from + PAGE - 1);
    // Past the summary's last seq, an empty page is the end (a gap as long as a page is not told from it).
    if (entries.length === 0 && from > lastSeq) break;
    for (const entry of entries) walk.step(entry);
  }
  lastSeq = Math.max(lastSeq, walk.expected - 1);
  walk.missingUpTo(lastSeq);
  return { lastSeq, damage: walk.damage, ...(walk.lastGood ? { lastGood: walk.lastGood } : {}), ...(summaryError ? { summaryError } : {}) };
}

/** A page of records; when one cannot be read, the page is read again record by record, so the damage is told apart from what follows. */
async function readPage(store: RunStore, runId: string, from: number, to: number): Promise<Entry[]> {
  try {
    return await store.read(runId, { from, to });
  } catch (error) {
    if (!(error instanceof CorruptRecordError) || error instanceof UnsupportedFormatError) throw error;
  }
  const entries: Entry[] = [];
  for (let seq = from; seq <= to; seq++) {
    try {
      entries.push(...(await store.read(runId, { from: seq, to: seq })));
    } catch (error) {
      if (!(error instanceof CorruptRecordError) || error instanceof UnsupportedFormatError) throw error;
      entries.push({ seq, problem: 'unreadable', detail: withoutHint(error.message) });
    }
  }
  return entries;
}

/** A damaged record's message ends with what to do; in repair's own report, that is repair itself. */
const withoutHint = (message: string): string => message.replace(/^Run "[^"]*" /, '').replace(/[:;] see what can be recovered with .*$/s, '');

/** Steps through a run's records in seq order, keeping the state after each while the chain of patches holds. */
class Walk {
  readonly damage: RecordDamage[] = [];
  lastGood: { seq: number; state: Json } | undefined;
  expected = 0;
  /** The state after the last record, while every patch since a keyframe applied. */
  #state: Json | undefined;
  readonly #check: ScanOptions['check'];

  constructor(check?: ScanOptions['check']) {
    this.#check = check;
  }

  step(entry: Entry): void {
    this.missingUpTo(entry.seq - 1);
    this.expected = entry.seq + 1;
    if ('problem' in entry) return this.#damaged(entry);
    const record = entry as RunRecord;
    const wrong = this.#check?.(record);
    if (wrong) return this.#damaged(wrong);
    if (record.snapshot !== undefined) this.#state = record.snapshot;
    else if (this.#state !== undefined) {
      try {
        // Shared, not in place: a patch that fails half-way leaves the last good state as it was.
        this.#state = applyPatchShared(this.#state, record.patch);
      } catch (error) {
        if (!(error instanceof InvalidPatchError)) throw error;
        return this.#damaged({ seq: record.seq, problem: 'patch', detail: `record ${record.seq} has a patch that does not apply to the state before it (${error.message})` });
      }
    }
    if (this.damage.length === 0 && this.#state !== undefined) this.lastGood = { seq: record.seq, state: this.#state };
  }

  missingUpTo(last: number): void {
    for (let seq = this.expected; seq <= last; seq++) this.#damaged({ seq, problem: 'missing', detail: `record ${seq} is missing` });
    this.expected = Math.max(this.expected, last + 1);
  }

  #damaged(damage: RecordDamage): void {
    this.damage.push(damage);
    // The states after a damaged record are unknown until the next keyframe; the last good one is kept as it was.
    this.#state = undefined;
  }
}
