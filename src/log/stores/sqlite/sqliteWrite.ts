import Database from 'better-sqlite3';
import { ConflictError } from '../../../errors.ts';
import type { RunRecord, RunSummary } from '../../format/record.ts';
import { chainStart, sealChain } from '../../format/chain.ts';
import { checkExpectedSeq, splitRecord } from '../runStore.ts';
import { RunNotFoundError } from '../../format/storageErrors.ts';
import { NATIVE_BINDING, SCHEMA, THREAD_COLUMNS, THREAD_INDEX } from './sqliteSchema.ts';
import { walSyncer, type WalSync } from './walSync.ts';

/** An indexed state with its texts encoded, as one append writes it. */
export interface EncodedPoint {
  seq: number;
  root: Buffer;
  chunks: { id: string; data: Buffer }[];
}

/** One append, checked; the records are encoded in the transaction, once their place in the run's chain is known. */
export interface SqliteBatch {
  runId: string;
  expectedSeq: number;
  records: RunRecord[];
  points: EncodedPoint[];
  summary: Partial<RunSummary> & { updatedAt: string };
  /** Force the commit to disk (fsync): a side effect is about to start. */
  sync: boolean;
}

/**
 * Opens (or creates) a SQLite store's file: WAL, fsync only when asked, waiting on locks, tables made.
 * `readOnly` opens an existing file without writing to it (not even to make its tables).
 */
export function openSqlite(path: string, options: { readOnly?: boolean } = {}): Database.Database {
  const binding = NATIVE_BINDING ? { nativeBinding: NATIVE_BINDING } : {};
  const db = new Database(path, options.readOnly ? { ...binding, readonly: true, fileMustExist: true } : binding);
  try {
    db.pragma('busy_timeout = 5000');
    if (!options.readOnly) {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.exec(SCHEMA);
    }
    // Files made before patches had their own column get it; their old rows keep the patch in the body.
    const columns = db.prepare<[], { name: string }>("SELECT name FROM pragma_table_info('records')").all();
    if (!columns.some((column) => column.name === 'patch')) {
      if (options.readOnly) {
        throw new Error('the file is not a run store of this version (its tables are missing or older), and a file open read-only cannot be upgraded');
      }
      db.exec('ALTER TABLE records ADD COLUMN patch BLOB');
    }
    if (!options.readOnly) {
      const runColumns = db.prepare<[], { name: string }>("SELECT name FROM pragma_table_info('runs')").all();
      if (!runColumns.some((column) => column.name === 'thread')) db.transaction(() => db.exec(THREAD_COLUMNS)).immediate();
      db.exec(THREAD_INDEX);
    }
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}

export const isoKey = (time: string): string => new Date(time).toISOString();

/** The last seq a run holds (null for none): appends check it, repairs report it. */
export const LAST_SEQ_SQL = 'SELECT max(seq) AS last FROM records WHERE run_id = ?';

/**
 * Makes the function that writes one batch in one immediate transaction on `db`: records, indexed
 * states, summary. A batch to sync resolves once it is on disk; the others are committed on return.
 */
export function batchWriter(db: Database.Database, walSync: WalSync | undefined = walSyncer(db)): { write(batch: SqliteBatch): Promise<void> | undefined; close(): Promise<void> } {
  const lastSeq = db.prepare<[string], { last: number | null }>(LAST_SEQ_SQL);
  const insertRecord = db.prepare('INSERT INTO records (run_id, seq, body, patch, snapshot) VALUES (?, ?, ?, ?, ?)');
  // What a batch continues the run's chain from; the header is read by SQLite, not parsed whole (it holds the run's input).
  const chainHead = db.prepare<[{ run: string; seq: number }], { format: unknown; checksum: unknown; body: Uint8Array | string | null }>(
    `SELECT CASE WHEN json_valid(header) THEN json_extract(header, '$.format') END AS format,
       CASE WHEN json_valid(header) THEN json_extract(header, '$.checksum') END AS checksum,
       (SELECT body FROM records WHERE run_id = @run AND seq = @seq) AS body
     FROM runs WHERE run_id = @run`,
  );
  const insertChunk = db.prepare('INSERT OR IGNORE INTO state_chunks (run_id, id, data) VALUES (?, ?, ?)');
  const insertPoint = db.prepare('INSERT OR REPLACE INTO state_index (run_id, seq, root) VALUES (?, ?, ?)');
  // Merges the changed summary fields in SQL (RFC 7396: null removes a field), without reading it first.
  const patchSummary = db.prepare<[string | null, string, string, string]>(
    'UPDATE runs SET status = coalesce(?, status), updated_at = ?, summary = json_patch(summary, ?) WHERE run_id = ?',
  );
  // Made once: better-sqlite3 builds several wrappers for each transaction function.
  const write = db.transaction((batch: SqliteBatch) => {
    const { runId, expectedSeq } = batch;
    checkExpectedSeq(runId, expectedSeq, lastSeq.get(runId)?.last ?? -1);
    let chained = false;
    if (batch.records.length > 0) {
      const head = chainHead.get({ run: runId, seq: expectedSeq - 1 });
      if (!head) throw new RunNotFoundError(runId);
      const start = chainStart(runId, expectedSeq, head, head.body);
      if (start.chained) sealChain(start.previous!, batch.records);
      chained = start.chained;
    }
    batch.records.forEach((unencoded, i) => {
      const record = splitRecord(unencoded, chained);
      try {
        insertRecord.run(runId, expectedSeq + i, record.body, record.patch, record.snapshot);
      } catch (error) {
        if ((error as { code?: string }).code !== 'SQLITE_CONSTRAINT_PRIMARYKEY') throw error;
        throw new ConflictError(
          `Run "${runId}": record ${expectedSeq + i} already exists; another writer appended first: reload the run and retry after its last seq.`,
        );
      }
    });
    for (const point of batch.points) {
      for (const chunk of point.chunks) insertChunk.run(runId, chunk.id, chunk.data);
      insertPoint.run(runId, point.seq, point.root);
    }
    const { summary } = batch;
    const changed = patchSummary.run(summary.status ?? null, isoKey(summary.updatedAt), JSON.stringify(summary), runId).changes;
    if (changed === 0) throw new RunNotFoundError(runId);
  });
  return {
    write: (batch) => {
      // WAL with synchronous=NORMAL survives a crash of the process; a caller that needs the write to
      // survive power loss too (a tool's side effect is about to start) asks for an fsync.
      if (batch.sync && walSync) {
        write.immediate(batch);
        return walSync();
      }
      if (batch.sync) db.pragma('synchronous = FULL');
      try {
        write.immediate(batch);
      } finally {
        if (batch.sync) db.pragma('synchronous = NORMAL');
      }
      return undefined;
    },
    close: async () => walSync?.close(),
  };
}
