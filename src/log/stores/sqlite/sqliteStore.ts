import { rmSync } from 'node:fs';
import type Database from 'better-sqlite3';
import { StorageError } from '../../../errors.ts';
import { parseHeader } from '../../format/record.ts';
import type { Json, RunHeader, RunRecord, RunSummary } from '../../format/record.ts';
import { StateIndexReader } from '../../reads/stateIndex.ts';
import {
  summaryPatch,
  checkBatch,
  refuseLease,
  checkPoints,
  checkNewRun,
  headerToStore,
  historyEntry,
  joinRecord,
  listedSummary,
  patchEntry,
  summaryFromText,
  summaryToTruncate,
  truncatedSummary,
} from '../runStore.ts';
import type { AppendOptions, HistoryEntry, ListedRow, ListRunsFilter, PatchEntry, RunStore, SeqRange } from '../runStore.ts';
import { RunExistsError, RunNotFoundError } from '../../format/storageErrors.ts';
import type { MachineEntry } from '../../format/machineEntry.ts';
import { machineFromText, machineText } from '../machineGraphs.ts';
import { encodeText } from '../../format/codec.ts';
import { batchWriter, isoKey } from './sqliteWrite.ts';
import { reportDamage } from './sqliteDamage.ts';
import { openStoreFile } from './sqliteOpen.ts';
import { storeStatements, type StoreStatements } from './sqliteStatements.ts';
import { threadOfHeader, type ListedRun } from '../listing.ts';
import type { LiveChannel } from '../../live/liveChannel.ts';
import { FileChannel } from '../../live/fileChannel.ts';
import { MemoryChannel } from '../../live/memoryChannel.ts';

/** The SQLite file used when no path is given, relative to the working directory. */
export const DEFAULT_SQLITE_PATH = '.statecraft/runs.db';

/** Where the SQLite store is and how it is opened (see the constructor). */
export interface SqliteStoreOptions {
  path?: string;
  mustExist?: boolean;
  readOnly?: boolean;
}

/**
 * A RunStore in one SQLite file (WAL mode); every write is committed before the returned promise resolves.
 * @example
 * const store = new SqliteStore({ path: '.statecraft/runs.db' });
 */
export class SqliteStore implements RunStore {
  readonly path: string;
  readonly #db: Database.Database;
  readonly #statements: StoreStatements;
  readonly #index = new StateIndexReader();
  /** Made when the store first appends: a process that only reads never prepares its statements. */
  #write: ReturnType<typeof batchWriter> | undefined;
  #live: LiveChannel | undefined;
  readonly #threadColumns: string;

  /**
   * True when the file is open for reading only (`readOnly`, or an existing file this user cannot
   * write): its runs can be listed, read, exported and replayed, and every write is refused.
   */
  get readOnly(): boolean {
    return this.#readOnlyBecause !== undefined;
  }
  readonly #readOnlyBecause: string | undefined;
  /** The folder of the copy read instead of a file that could not be read in place (removed on close). */
  #copy: string | undefined;

  /**
   * `mustExist`: refuse a file that does not exist yet instead of creating it (commands that only read
   * or change recorded runs). An existing file that this user cannot write is opened read-only.
   * `readOnly`: open an existing file without writing to it.
   */
  constructor(options: SqliteStoreOptions = {}) {
    const opened = openStoreFile({ ...options, path: options.path ?? DEFAULT_SQLITE_PATH });
    this.path = opened.path;
    this.#db = opened.db;
    this.#copy = opened.copy;
    this.#readOnlyBecause = opened.readOnlyBecause;
    this.#statements = storeStatements(opened.db);
    // A file from before threads, open read-only, lists its runs without them.
    const columns = opened.db.prepare<[], { name: string }>("SELECT name FROM pragma_table_info('runs')").all();
    this.#threadColumns = columns.some((column) => column.name === 'thread') ? 'thread, tenant' : 'NULL AS thread, NULL AS tenant';
  }

  #summaryOf(runId: string): RunSummary {
    const row = this.#statements.getRun.get(runId);
    if (!row) throw new RunNotFoundError(runId);
    return summaryFromText(row.summary, runId);
  }

  /** Reads of records need the run to exist, not its summary to be readable (repair reads a run whose summary is damaged). */
  #mustExist(runId: string): void {
    if (!this.#statements.runExists.get(runId)) throw new RunNotFoundError(runId);
  }

  /** Every write starts here: a store open read-only refuses it, saying why and what to do. */
  #writable(what: string): void {
    if (!this.readOnly) return;
    throw new StorageError(
      `The SQLite store at ${this.path} is open read-only (${this.#readOnlyBecause}): it cannot ${what}. ` +
        'Run this as a user who can write the file and its folder, or copy the file somewhere writable and name the copy with --store.',
    );
  }

  #writeSummary(summary: RunSummary): void {
    this.#statements.updateSummary.run(summary.status, isoKey(summary.updatedAt), JSON.stringify(summary), summary.runId);
  }

  async createRun(header: RunHeader, summary: RunSummary): Promise<void> {
    this.#writable(`record a new run (${header.runId})`);
    const stored = headerToStore(header);
    const initial = checkNewRun(stored, summary);
    const labelled = threadOfHeader(stored);
    try {
      this.#statements.insertRun.run(
        header.runId,
        initial.agentId,
        initial.status,
        initial.parent?.runId ?? null,
        isoKey(initial.createdAt),
        isoKey(initial.updatedAt),
        JSON.stringify(stored),
        JSON.stringify(initial),
        labelled.thread,
        labelled.tenant,
      );
    } catch (error) {
      if ((error as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') throw new RunExistsError(header.runId);
      throw error;
    }
  }

  async append(runId: string, records: RunRecord[], options: AppendOptions): Promise<void> {
    refuseLease('SQLite', runId, options);
    this.#writable(`record the steps of run ${runId}`);
    checkBatch(runId, records, options.expectedSeq);
    checkPoints(runId, options.points, options.expectedSeq, records.length);
    await (this.#write ??= batchWriter(this.#db)).write({
      runId,
      expectedSeq: options.expectedSeq,
      records,
      points: (options.points ?? []).map((point) => ({
        seq: point.seq,
        root: encodeText(point.root),
        chunks: point.chunks.map((chunk) => ({ id: chunk.id, data: encodeText(chunk.text) })),
      })),
      summary: summaryPatch(runId, options.summary, options.expectedSeq + records.length - 1),
      sync: options.sync ?? false,
    });
  }

  async header(runId: string): Promise<RunHeader> {
    const row = this.#statements.getRun.get(runId);
    if (!row) throw new RunNotFoundError(runId);
    return parseHeader(JSON.parse(row.header), { runId });
  }

  async summary(runId: string): Promise<RunSummary> {
    return this.#summaryOf(runId);
  }

  async read(runId: string, range: SeqRange = {}): Promise<RunRecord[]> {
    this.#mustExist(runId);
    const rows = this.#statements.readRecords.all(runId, range.from ?? 0, range.to ?? Number.MAX_SAFE_INTEGER);
    return rows.map((row) => joinRecord(row, runId, row.seq));
  }

  async readHistory(runId: string, range: SeqRange = {}): Promise<HistoryEntry[]> {
    this.#mustExist(runId);
    const rows = this.#statements.readBodies.all(runId, range.from ?? 0, range.to ?? Number.MAX_SAFE_INTEGER);
    return rows.map((row) => historyEntry(row.body, runId, row.seq));
  }

  async readPatches(runId: string, range: SeqRange = {}): Promise<PatchEntry[]> {
    this.#mustExist(runId);
    const rows = this.#statements.readPatches.all(runId, range.from ?? 0, range.to ?? Number.MAX_SAFE_INTEGER);
    return rows.map((row) => patchEntry({ body: row.body ?? '', patch: row.patch }, runId, row.seq));
  }

  async keyframeSeqAtOrBefore(runId: string, seq: number): Promise<number> {
    this.#mustExist(runId);
    return this.#statements.keyframeSeq.get(runId, seq)?.seq ?? -1;
  }

  async keyframeAtOrBefore(runId: string, seq: number): Promise<RunRecord | undefined> {
    this.#mustExist(runId);
    const row = this.#statements.keyframe.get(runId, seq);
    return row ? joinRecord(row, runId, row.seq) : undefined;
  }

  async statePointSeqAtOrBefore(runId: string, seq: number): Promise<number> {
    return this.#statements.pointSeq.get(runId, seq)?.seq ?? -1;
  }

  async statePointAt(runId: string, seq: number): Promise<Json | undefined> {
    const row = this.#statements.point.get(runId, seq);
    if (!row) return undefined;
    return this.#index.decode(runId, row.root, (ids) => this.#statements.chunks.all(runId, JSON.stringify(ids)));
  }

  async listRuns(filter: ListRunsFilter = {}): Promise<ListedRun[]> {
    const where: string[] = [];
    const params: Array<string | number | null> = [];
    if (filter.status) {
      if (filter.status.length === 0) return [];
      where.push(`status IN (${filter.status.map(() => '?').join(', ')})`);
      params.push(...filter.status);
    }
    const add = (clause: string, value: string | undefined): void => {
      if (value === undefined) return;
      where.push(clause);
      params.push(value);
    };
    add('agent_id = ?', filter.agentId);
    add('parent_run_id = ?', filter.parentRunId);
    add('updated_at > ?', filter.updatedAfter === undefined ? undefined : isoKey(filter.updatedAfter));
    if (filter.thread === true) where.push('thread IS NOT NULL');
    else add('thread = ?', filter.thread);
    if (filter.tenant !== undefined) {
      where.push('tenant IS ?');
      params.push(filter.tenant);
    }
    if ((filter.thread !== undefined || filter.tenant !== undefined) && this.#threadColumns.startsWith('NULL')) return [];
    const sql =
      `SELECT run_id, agent_id, status, created_at, updated_at, summary, ${this.#threadColumns} FROM runs${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY updated_at DESC, run_id` +
      (filter.limit === undefined ? '' : ` LIMIT ${Math.max(0, Math.floor(filter.limit))}`);
    const rows = this.#db.prepare<Array<string | number | null>, ListedRow>(sql).all(...params);
    return rows.map(listedSummary);
  }

  async saveMachines(entries: MachineEntry[]): Promise<void> {
    this.#writable('keep the graphs of the machines a run uses');
    const rows = entries.map((entry) => [entry.id, entry.hash, machineText(entry)] as const);
    const insert = this.#db.prepare('INSERT OR IGNORE INTO machines (machine_id, hash, body) VALUES (?, ?, ?)');
    this.#db.transaction(() => {
      for (const row of rows) insert.run(...row);
    }).immediate();
  }

  async machine(id: string, hash: string): Promise<MachineEntry | undefined> {
    let row: { body: string } | undefined;
    try {
      row = this.#db.prepare<[string, string], { body: string }>('SELECT body FROM machines WHERE machine_id = ? AND hash = ?').get(id, hash);
    } catch (error) {
      // A file written before machine graphs were kept, opened read-only, has no table for them.
      if (/no such table/.test((error as Error).message)) return undefined;
      throw error;
    }
    return row === undefined ? undefined : machineFromText(row.body, id, hash, `the SQLite store at ${this.path}`);
  }

  async deleteRun(runId: string): Promise<void> {
    this.#writable(`delete run ${runId}`);
    this.#db.transaction(() => {
      this.#mustExist(runId);
      this.#statements.deleteRecords.run(runId);
      this.#statements.deletePoints.run(runId);
      this.#statements.deleteChunks.run(runId);
      this.#statements.deleteRun.run(runId);
    }).immediate();
  }

  async truncate(runId: string, afterSeq: number, update?: Partial<RunSummary>): Promise<number> {
    this.#writable(`repair run ${runId}`);
    return this.#db.transaction(() => {
      const row = this.#statements.getRun.get(runId);
      if (!row) throw new RunNotFoundError(runId);
      const current = summaryToTruncate(row.summary, row.header, runId, update !== undefined);
      const dropped = this.#statements.truncate.run(runId, afterSeq).changes;
      // Chunks stay: they are named by their content, and a later state may name them again.
      this.#statements.truncatePoints.run(runId, afterSeq);
      const summary = truncatedSummary(current, update, dropped, this.#statements.lastSeq.get(runId)?.last ?? -1);
      if (summary) this.#writeSummary(summary);
      return dropped;
    }).immediate();
  }

  /** Files in `<database>.live/` beside the database; a store in memory talks to this process only. */
  liveChannel(): LiveChannel {
    return (this.#live ??= this.path === ':memory:' ? new MemoryChannel() : new FileChannel({ dir: `${this.path}.live` }));
  }

  async close(): Promise<void> {
    await this.#live?.close();
    await this.#write?.close();
    if (this.#db.open) this.#db.close();
    if (this.#copy) rmSync(this.#copy, { recursive: true, force: true });
  }
}

reportDamage(SqliteStore);
