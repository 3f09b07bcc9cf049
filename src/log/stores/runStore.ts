import { ConflictError, UserError } from '../../errors.ts';
import { isSealed, parseHeader, parseSummary, RunSummarySchema, sealHeader } from '../format/record.ts';
import { CorruptRecordError } from '../format/storageErrors.ts';
import { wellFormedSummary } from '../format/wellFormed.ts';
import { findUnsafePath } from '../format/patch.ts';
import type { Json, RunHeader, RunRecord, RunSummary } from '../format/record.ts';
import type { StatePoint } from '../reads/stateIndex.ts';
import type { PatchEntry } from '../format/storedRecord.ts';
import type { MachineEntry } from '../format/machineEntry.ts';
import type { LiveChannel } from '../live/liveChannel.ts';
import type { ListedRun, ListRunsFilter } from './listing.ts';

/** Options of `RunStore.append`: `expectedSeq` is the seq the first record must have (the run's lastSeq + 1). */
export interface AppendOptions {
  expectedSeq: number;
  summary?: Partial<RunSummary>;
  /** Make the write survive power loss before returning (fsync), not only a crash of this process. */
  sync?: boolean;
  /** Indexed states of records in this batch (see stateIndex.ts), written in the same transaction. */
  points?: StatePoint[];
  /**
   * The fencing epoch of the lease the writer holds the run by (workers, PostgreSQL only): the append
   * is refused with LeaseLostError unless that lease is still the run's current, unexpired one.
   */
  lease?: number;
}

/** Inclusive seq bounds for reads. */
export interface SeqRange {
  from?: number;
  to?: number;
}

/** One line of a run's history: a record without its patch and snapshot. */
export interface HistoryEntry {
  seq: number;
  time: string;
  eventType: string;
  /** The whole event (decisions name their call, approver and reason); redacted like every record. */
  event: RunRecord['event'];
  state: Json;
  meta?: RunRecord['meta'];
}

/** Where runs are kept: an append-only log of records per run, plus a header and a summary. */
export interface RunStore {
  /** Creates a run with no records; throws RunExistsError if the id is taken. */
  createRun(header: RunHeader, summary: RunSummary): Promise<void>;
  /** Appends consecutive records in one transaction (none with an empty list: a summary-only update); ConflictError when `expectedSeq` is not lastSeq + 1. */
  append(runId: string, records: RunRecord[], options: AppendOptions): Promise<void>;
  header(runId: string): Promise<RunHeader>;
  summary(runId: string): Promise<RunSummary>;
  /** Returns records ordered by seq, each validated; throws CorruptRecordError naming the first bad seq. */
  read(runId: string, range?: SeqRange): Promise<RunRecord[]>;
  /** Returns history lines without reading snapshots; records are shape-checked, not checksummed. */
  readHistory(runId: string, range?: SeqRange): Promise<HistoryEntry[]>;
  /** Returns each record's patch only, shape-checked but not checksummed (state reconstruction). */
  readPatches(runId: string, range?: SeqRange): Promise<PatchEntry[]>;
  keyframeAtOrBefore(runId: string, seq: number): Promise<RunRecord | undefined>;
  /** The seq of the nearest keyframe at or before `seq`, without reading it (-1 when there is none). */
  keyframeSeqAtOrBefore(runId: string, seq: number): Promise<number>;
  /** The seq of the nearest indexed state at or before `seq` (-1 when there is none); stores without a state index leave it out. */
  statePointSeqAtOrBefore?(runId: string, seq: number): Promise<number>;
  /** The indexed state at `seq`, shared and read-only; undefined when there is none or it cannot be read (the log is rebuilt from instead). */
  statePointAt?(runId: string, seq: number): Promise<Json | undefined>;
  /** Lists summaries; a run whose stored summary cannot be read is listed from its indexed columns with `damaged` set, not refused. */
  listRuns(filter?: ListRunsFilter): Promise<ListedRun[]>;
  /** Keeps machine graphs once per version (id and hash), for drawing runs without their code; one already kept is left as it is. */
  saveMachines?(entries: MachineEntry[]): Promise<void>;
  /** The graph kept for a machine version, checked on read; undefined when none is. */
  machine?(id: string, hash: string): Promise<MachineEntry | undefined>;
  deleteRun(runId: string): Promise<void>;
  /**
   * Drops records after `afterSeq` (repair of a torn tail) and returns how many were dropped. `summary`,
   * the listing facts of the state the run now ends in, is merged into the run's summary in the same
   * transaction (also when nothing was dropped); a stored summary that cannot be read is then rebuilt
   * from the header and these facts. Without it, only `lastSeq` and `truncations` change.
   */
  truncate(runId: string, afterSeq: number, summary?: Partial<RunSummary>): Promise<number>;
  /** The store's live channel (streaming text, requests to the process running a run), made on first use and closed with the store. */
  liveChannel?(): LiveChannel;
  close(): Promise<void>;
}

/** Checks a batch before any write: records belong to the run, are sealed, valid and numbered from `expectedSeq` on. */
export function checkBatch(runId: string, records: readonly RunRecord[], expectedSeq: number): void {
  records.forEach((record, i) => {
    if (record.runId !== runId) {
      throw new UserError(`append to run "${runId}" got a record of run "${record.runId}" (seq ${record.seq}): build records with the run's id.`);
    }
    if (record.seq !== expectedSeq + i) {
      throw new UserError(
        `append to run "${runId}" expected record ${i} of the batch to have seq ${expectedSeq + i}, found ${record.seq}: records must be consecutive from expectedSeq.`,
      );
    }
    // Full validation happens on read; a writer's records were sealed by sealRecord, so only what is cheap is checked here.
    if (!isSealed(record)) {
      throw new UserError(`append to run "${runId}" got record ${record.seq} without a checksum: seal records with sealRecord (or makeRecord).`);
    }
    const unsafe = findUnsafePath(record.patch);
    if (unsafe !== undefined) {
      throw new UserError(`append to run "${runId}" got record ${record.seq} with an unsafe patch path "${unsafe}"; paths may not go through __proto__, constructor or prototype.`);
    }
  });
}

/** Stores without leases refuse an append that names one, rather than ignore the fence. */
export function refuseLease(store: string, runId: string, options: AppendOptions): void {
  if (options.lease !== undefined) {
    throw new UserError(`append to run "${runId}" names lease epoch ${options.lease}, but the ${store} store has no leases: workers need a PostgreSQL store (postgres://…).`);
  }
}

/** Checks a batch's indexed states: each belongs to a record of the batch and names its chunks. */
export function checkPoints(runId: string, points: readonly StatePoint[] | undefined, expectedSeq: number, count: number): void {
  for (const point of points ?? []) {
    if (!Number.isInteger(point.seq) || point.seq < expectedSeq || point.seq >= expectedSeq + count) {
      throw new UserError(`append to run "${runId}" got an indexed state for seq ${point.seq}, outside the batch's records ${expectedSeq}-${expectedSeq + count - 1}: index only the records appended with it.`);
    }
    if (typeof point.root !== 'string' || !Array.isArray(point.chunks) || point.chunks.some((chunk) => typeof chunk.id !== 'string' || typeof chunk.text !== 'string')) {
      throw new UserError(`append to run "${runId}" got a malformed indexed state for seq ${point.seq}: build it with StateIndexWriter.`);
    }
  }
}

/** Throws ConflictError unless the next free seq of the run is `expectedSeq`. */
export function checkExpectedSeq(runId: string, expectedSeq: number, lastSeq: number): void {
  if (expectedSeq !== lastSeq + 1) {
    throw new ConflictError(
      `Run "${runId}": append expected the next seq to be ${expectedSeq}, found ${lastSeq + 1} (last seq ${lastSeq}); another writer appended first or the caller is out of date: reload the run and retry from seq ${lastSeq + 1}.`,
    );
  }
}

/** Merges a summary update; `runId` and `lastSeq` stay owned by the store, `updatedAt` defaults to now. */
export function mergeSummary(current: RunSummary, update: Partial<RunSummary> | undefined, lastSeq: number): RunSummary {
  const merged = { ...current, ...update, runId: current.runId, lastSeq, updatedAt: update?.updatedAt ?? new Date().toISOString() };
  const plain = wellFormedSummary(merged);
  if (plain) return plain;
  const parsed = RunSummarySchema.safeParse(merged);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new UserError(`Summary update for run "${current.runId}" is invalid at ${issue?.path.join('.')}: ${issue?.message}; pass fields of RunSummary with valid values.`);
  }
  return parsed.data;
}

/** The summary of a run that has just been created from `header`: running, nothing recorded yet. */
export function newRunSummary(header: RunHeader): RunSummary {
  return {
    runId: header.runId,
    agentId: header.agent.id,
    status: 'running',
    steps: 0,
    inputTokens: 0,
    outputTokens: 0,
    costUsd: 0,
    lastSeq: -1,
    createdAt: header.createdAt,
    updatedAt: header.createdAt,
    ...(header.parent ? { parent: header.parent } : {}),
  };
}

const SummaryUpdateSchema = RunSummarySchema.partial();


/**
 * The fields an append changes in a run's summary, validated, as a JSON merge patch: fields given as
 * undefined are cleared (null), and the run's identity fields cannot be changed.
 */
export function summaryPatch(runId: string, update: Partial<RunSummary> | undefined, lastSeq: number): Partial<RunSummary> & { updatedAt: string } {
  const { runId: _runId, agentId: _agentId, createdAt: _createdAt, parent: _parent, ...rest } = update ?? {};
  // Every append of a recording run passes here: what the recorder sends is checked by hand, and
  // anything else goes to zod, which decides and words the error.
  let fields = wellFormedSummary(rest, true);
  if (!fields) {
    const parsed = SummaryUpdateSchema.safeParse(rest);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new UserError(`Summary update for run "${runId}" is invalid at ${issue?.path.join('.')}: ${issue?.message}; pass fields of RunSummary with valid values.`);
    }
    fields = parsed.data;
  }
  const patch: Record<string, unknown> = { ...fields, lastSeq, updatedAt: fields.updatedAt ?? new Date().toISOString() };
  for (const key of Object.keys(rest)) if ((rest as Record<string, unknown>)[key] === undefined) patch[key] = null;
  return patch as Partial<RunSummary> & { updatedAt: string };
}

/** Parses a stored summary's text; one that is not JSON or not a summary is a CorruptRecordError naming the run and the fix. */
export function summaryFromText(text: string, runId: string): RunSummary {
  try {
    return parseSummary(JSON.parse(text), { runId });
  } catch (error) {
    if (!(error instanceof SyntaxError || error instanceof CorruptRecordError)) throw error;
    const why = error instanceof SyntaxError ? `it is not JSON: ${error.message}` : (error as Error).message.replace(/^Run "[^"]*" summary /, '').replace(/\.$/, '');
    throw new CorruptRecordError(
      `Run "${runId}" summary cannot be read (${why}): rebuild it from the run's records with \`npx statecraft repair ${runId}\`.`,
      { runId },
      { cause: error },
    );
  }
}

/**
 * The summary truncate merges into: the stored one, or, when it cannot be read and the caller brings
 * the facts to rebuild it (`rebuilding`), a new run's summary from the header.
 */
export function summaryToTruncate(summaryText: string, headerText: string, runId: string, rebuilding: boolean): RunSummary {
  try {
    return summaryFromText(summaryText, runId);
  } catch (error) {
    if (!rebuilding || !(error instanceof CorruptRecordError)) throw error;
    return newRunSummary(parseHeader(JSON.parse(headerText), { runId }));
  }
}

/** The summary truncate writes, or undefined when it changes nothing: `update` merged, a truncation counted when records went. */
export function truncatedSummary(current: RunSummary, update: Partial<RunSummary> | undefined, dropped: number, lastSeq: number): RunSummary | undefined {
  if (dropped === 0 && update === undefined) return undefined;
  const truncations = (current.truncations ?? 0) + (dropped > 0 ? 1 : 0);
  return mergeSummary(current, { ...update, ...(truncations > 0 ? { truncations } : {}) }, lastSeq);
}

/** The header a store writes for a new run: checked, and sealed with a checksum over its fields (any it held is worked out again). */
export function headerToStore(header: RunHeader): RunHeader {
  const { checksum: _given, ...fields } = header;
  return sealHeader(parseHeader(fields, {}, { unsealed: true }));
}

/** Checks a header and its initial summary agree before a run is created. */
export function checkNewRun(header: RunHeader, summary: RunSummary): RunSummary {
  if (header.runId !== summary.runId) {
    throw new UserError(`createRun got header for run "${header.runId}" but summary for run "${summary.runId}": use one run id.`);
  }
  const plain = wellFormedSummary({ ...summary, lastSeq: -1 });
  if (plain) return plain;
  const parsed = RunSummarySchema.safeParse({ ...summary, lastSeq: -1 });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new UserError(`Initial summary for run "${header.runId}" is invalid at ${issue?.path.join('.')}: ${issue?.message}.`);
  }
  return parsed.data;
}

export { compareNewestFirst, listedSummary, matchesFilter, type ListedRow, type ListedRun, type ListRunsFilter } from './listing.ts';
export { historyEntry, joinRecord, patchEntry, splitRecord, type PatchEntry, type StoredRecord } from '../format/storedRecord.ts';
