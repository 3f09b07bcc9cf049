import { StorageError } from '../../errors.ts';
import { parseHeader } from '../format/record.ts';
import type { Json, RunHeader, RunRecord, RunSummary } from '../format/record.ts';
import { encodeText } from '../format/codec.ts';
import { chainStart, sealChain } from '../format/chain.ts';
import { StateIndexReader } from '../reads/stateIndex.ts';
import {
  checkBatch,
  refuseLease,
  checkExpectedSeq,
  checkPoints,
  checkNewRun,
  headerToStore,
  compareNewestFirst,
  historyEntry,
  joinRecord,
  listedSummary,
  matchesFilter,
  mergeSummary,
  patchEntry,
  splitRecord,
  summaryFromText,
  summaryToTruncate,
  truncatedSummary,
} from './runStore.ts';
import { threadOfHeader, type ListedRun } from './listing.ts';
import type { AppendOptions, HistoryEntry, ListedRow, ListRunsFilter, PatchEntry, RunStore, SeqRange, StoredRecord } from './runStore.ts';
import { RunExistsError, RunNotFoundError } from '../format/storageErrors.ts';
import type { MachineEntry } from '../format/machineEntry.ts';
import { machineFromText, machineText } from './machineGraphs.ts';

/** Machine graphs by `id hash`, per shared data (two stores on one map see the same graphs). */
const machineTexts = new WeakMap<MemoryStoreData, Map<string, string>>();
import type { LiveChannel } from '../live/liveChannel.ts';
import { MemoryChannel } from '../live/memoryChannel.ts';

/** One run as the memory store keeps it: JSON text only, so nothing but JSON survives a write. */
export interface MemoryRun {
  header: string;
  summary: string;
  records: StoredRecord[];
  /** The state index: encoded roots by seq, and chunks by name. */
  points?: Map<number, Uint8Array>;
  chunks?: Map<string, Uint8Array>;
}

/** The shared state behind memory stores; pass the same map to two stores to model two processes. */
export type MemoryStoreData = Map<string, MemoryRun>;

/** A run as a listing reads it: the memory store indexes nothing, so a damaged summary is listed with what the header says. */
function indexedRow(runId: string, run: MemoryRun): ListedRow {
  const header = JSON.parse(run.header) as { agent: { id: string }; createdAt: string; labels?: Record<string, string> };
  return { run_id: runId, agent_id: header.agent.id, status: 'failed', created_at: header.createdAt, updated_at: header.createdAt, summary: run.summary, ...threadOfHeader(header) };
}

/**
 * A RunStore held in memory as JSON text, for tests.
 * @example
 * const store = new MemoryStore();
 */
export class MemoryStore implements RunStore {
  readonly data: MemoryStoreData;
  #closed = false;
  #live: MemoryChannel | undefined;
  readonly #index = new StateIndexReader();

  constructor(options: { data?: MemoryStoreData } = {}) {
    this.data = options.data ?? new Map();
  }

  #run(runId: string): MemoryRun {
    if (this.#closed) throw new StorageError(`The memory store is closed; it cannot serve run "${runId}": open a new store.`);
    const run = this.data.get(runId);
    if (!run) throw new RunNotFoundError(runId);
    return run;
  }

  async createRun(header: RunHeader, summary: RunSummary): Promise<void> {
    const stored = headerToStore(header);
    const initial = checkNewRun(stored, summary);
    if (this.data.has(header.runId)) throw new RunExistsError(header.runId);
    this.data.set(header.runId, { header: JSON.stringify(stored), summary: JSON.stringify(initial), records: [] });
  }

  #machines(): Map<string, string> {
    if (this.#closed) throw new StorageError('The memory store is closed; it cannot serve machine graphs: open a new store.');
    let texts = machineTexts.get(this.data);
    if (!texts) machineTexts.set(this.data, (texts = new Map()));
    return texts;
  }

  async saveMachines(entries: MachineEntry[]): Promise<void> {
    const texts = this.#machines();
    const checked = entries.map((entry) => [`${entry.id} ${entry.hash}`, machineText(entry)] as const);
    for (const [key, text] of checked) if (!texts.has(key)) texts.set(key, text);
  }

  async machine(id: string, hash: string): Promise<MachineEntry | undefined> {
    const text = this.#machines().get(`${id} ${hash}`);
    return text === undefined ? undefined : machineFromText(text, id, hash, 'the memory store');
  }

  async append(runId: string, records: RunRecord[], options: AppendOptions): Promise<void> {
    refuseLease('memory', runId, options);
    const run = this.#run(runId);
    checkExpectedSeq(runId, options.expectedSeq, run.records.length - 1);
    checkBatch(runId, records, options.expectedSeq);
    checkPoints(runId, options.points, options.expectedSeq, records.length);
    const current = summaryFromText(run.summary, runId);
    const summary = mergeSummary(current, options.summary, options.expectedSeq + records.length - 1);
    const start = records.length === 0 ? { chained: false } : chainStart(runId, options.expectedSeq, JSON.parse(run.header) as { format: unknown; checksum: unknown }, run.records[options.expectedSeq - 1]?.body);
    if (start.chained) sealChain(start.previous!, records);
    const stored = records.map((record) => splitRecord(record, start.chained));
    run.records.push(...stored);
    for (const point of options.points ?? []) {
      for (const chunk of point.chunks) if (!(run.chunks ??= new Map()).has(chunk.id)) run.chunks.set(chunk.id, encodeText(chunk.text));
      (run.points ??= new Map()).set(point.seq, encodeText(point.root));
    }
    run.summary = JSON.stringify(summary);
  }

  async header(runId: string): Promise<RunHeader> {
    return parseHeader(JSON.parse(this.#run(runId).header), { runId });
  }

  async summary(runId: string): Promise<RunSummary> {
    return summaryFromText(this.#run(runId).summary, runId);
  }

  #slice(run: MemoryRun, range: SeqRange): Array<[number, StoredRecord]> {
    const from = Math.max(0, range.from ?? 0);
    const to = Math.min(run.records.length - 1, range.to ?? Number.POSITIVE_INFINITY);
    const out: Array<[number, StoredRecord]> = [];
    for (let seq = from; seq <= to; seq++) out.push([seq, run.records[seq] as StoredRecord]);
    return out;
  }

  async read(runId: string, range: SeqRange = {}): Promise<RunRecord[]> {
    return this.#slice(this.#run(runId), range).map(([seq, stored]) => joinRecord(stored, runId, seq));
  }

  async readHistory(runId: string, range: SeqRange = {}): Promise<HistoryEntry[]> {
    return this.#slice(this.#run(runId), range).map(([seq, stored]) => historyEntry(stored.body, runId, seq));
  }

  async readPatches(runId: string, range: SeqRange = {}): Promise<PatchEntry[]> {
    return this.#slice(this.#run(runId), range).map(([seq, stored]) => patchEntry(stored, runId, seq));
  }

  async keyframeAtOrBefore(runId: string, seq: number): Promise<RunRecord | undefined> {
    const at = await this.keyframeSeqAtOrBefore(runId, seq);
    return at < 0 ? undefined : joinRecord(this.#run(runId).records[at] as StoredRecord, runId, at);
  }

  async keyframeSeqAtOrBefore(runId: string, seq: number): Promise<number> {
    const run = this.#run(runId);
    for (let at = Math.min(seq, run.records.length - 1); at >= 0; at--) if ((run.records[at] as StoredRecord).snapshot !== null) return at;
    return -1;
  }

  async statePointSeqAtOrBefore(runId: string, seq: number): Promise<number> {
    let found = -1;
    for (const at of this.#run(runId).points?.keys() ?? []) if (at <= seq && at > found) found = at;
    return found;
  }

  async statePointAt(runId: string, seq: number): Promise<Json | undefined> {
    const run = this.#run(runId);
    const root = run.points?.get(seq);
    if (!root) return undefined;
    return this.#index.decode(runId, root, (ids) =>
      ids.flatMap((id) => {
        const data = run.chunks?.get(id);
        return data ? [{ id, data }] : [];
      }),
    );
  }

  async listRuns(filter: ListRunsFilter = {}): Promise<ListedRun[]> {
    if (this.#closed) throw new StorageError('The memory store is closed; it cannot list runs: open a new store.');
    const summaries = [...this.data.entries()].map(([runId, run]) => listedSummary(indexedRow(runId, run)));
    const found = summaries.filter((summary) => matchesFilter(summary, filter)).sort(compareNewestFirst);
    return filter.limit === undefined ? found : found.slice(0, filter.limit);
  }

  async deleteRun(runId: string): Promise<void> {
    this.#run(runId);
    this.data.delete(runId);
  }

  async truncate(runId: string, afterSeq: number, update?: Partial<RunSummary>): Promise<number> {
    const run = this.#run(runId);
    const current = summaryToTruncate(run.summary, run.header, runId, update !== undefined);
    const keep = Math.min(run.records.length, Math.max(0, afterSeq + 1));
    const dropped = run.records.length - keep;
    run.records.length = keep;
    for (const at of [...(run.points?.keys() ?? [])]) if (at >= keep) run.points!.delete(at);
    const summary = truncatedSummary(current, update, dropped, keep - 1);
    if (summary) run.summary = JSON.stringify(summary);
    return dropped;
  }

  liveChannel(): LiveChannel {
    return (this.#live ??= new MemoryChannel());
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#live?.close();
  }
}
