import { alteredDetail, ChainWalk } from '../format/chain.ts';
import type { ReadExportOptions } from '../exchange/exportFile.ts';
import { checkExport } from '../exchange/jsonl.ts';
import type { RunStore } from '../stores/runStore.ts';
import { scanRun, type RecordDamage } from './scanRun.ts';
import { CorruptRecordError, UnsupportedFormatError } from '../format/storageErrors.ts';
import type { Trailer } from '../exchange/exportTrailer.ts';

/** What `verifyRun` found: `problems` is empty when the run is intact. */
export interface Verification {
  runId: string;
  /** Whether the run's records are chained (format 3 on): only then is an edit that left the checksums alone told from an intact record. */
  chained: boolean;
  /** How many records were checked. */
  records: number;
  /** The header, the summary, then records in seq order: what is damaged (unreadable, missing, a patch that does not apply) or altered. */
  problems: Problem[];
  /** For an export: its trailer, and whether its signature was checked with the key given. */
  trailer?: { present: boolean; signedBy?: string; signatureChecked: boolean };
}

/** One thing wrong with a run; `seq` is absent for the header and the summary. */
export interface Problem {
  seq?: number;
  problem: RecordDamage['problem'] | 'header' | 'summary' | 'file';
  detail: string;
}

/**
 * Checks a stored run: its header (format and checksum), that every record from 0 to the summary's
 * last seq can be read and its patch applies, and that each record holds the checksum it was written
 * with, over its content and (from format 3 on) the checksum of the record before it, back to the
 * header. Without a key, this finds damage and any edit that did not also work out every later
 * checksum again; it cannot tell a run rewritten from the altered record on by someone with write
 * access to the store and Statecraft's code, nor one cut back at its end along with its summary.
 * A record in a format this build does not read is not a problem: UnsupportedFormatError is thrown.
 * @example
 * const { problems } = await verifyRun(store, runId);
 */
export async function verifyRun(store: RunStore, runId: string): Promise<Verification> {
  let header;
  try {
    header = await store.header(runId);
  } catch (error) {
    if (!(error instanceof CorruptRecordError) || error instanceof UnsupportedFormatError) throw error;
    return { runId, chained: false, records: 0, problems: [{ problem: 'header', detail: error.message }] };
  }
  const chain = new ChainWalk(header);
  let records = 0;
  const scan = await scanRun(store, runId, {
    check: (record) => {
      records++;
      return chain.holds(record) ? undefined : { seq: record.seq, problem: 'altered', detail: alteredDetail(record.seq, chain.chained) };
    },
  });
  const problems: Problem[] = [];
  if (scan.summaryError) problems.push({ problem: 'summary', detail: scan.summaryError.message });
  else {
    const { lastSeq } = await store.summary(runId);
    if (lastSeq < scan.lastSeq) {
      problems.push({ problem: 'summary', detail: `the summary says the run ends at record ${lastSeq}, but records go on to ${scan.lastSeq}: it was altered or damaged` });
    }
  }
  problems.push(...scan.damage);
  return { runId, chained: chain.chained, records, problems };
}

/**
 * Checks an exported run as `importRun` would (every line, the chain, the trailer, and the signature
 * when `verifyKey` is given), storing nothing. A refusal is reported as the file's problem.
 */
export function verifyExport(text: string, options: ReadExportOptions = {}): Verification {
  let file;
  try {
    ({ file } = checkExport(text, options));
  } catch (error) {
    if (!(error instanceof CorruptRecordError) || error instanceof UnsupportedFormatError) throw error;
    const seq = error.seq === undefined ? {} : { seq: error.seq };
    return { runId: error.runId ?? '?', chained: false, records: 0, problems: [{ ...seq, problem: 'file', detail: error.message.replace(/^Import refused/, 'Refused') }] };
  }
  const trailer: Trailer | undefined = file.trailer;
  return {
    runId: file.header.runId,
    chained: new ChainWalk(file.header).chained,
    records: file.records.length,
    problems: [],
    trailer: {
      present: trailer !== undefined,
      ...(trailer?.signature ? { signedBy: trailer.signature.key } : {}),
      signatureChecked: options.verifyKey !== undefined,
    },
  };
}
