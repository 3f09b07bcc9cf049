import type { PoolClient } from 'pg';
import { ConflictError, StorageError, UserError } from '../../../errors.ts';
import { parseHeader } from '../../format/record.ts';
import type { Json, RunHeader, RunRecord, RunSummary } from '../../format/record.ts';
import { encodeText } from '../../format/codec.ts';
import { sealChain } from '../../format/chain.ts';
import { ChainHeads, type ChainHeadRow } from '../chainHeads.ts';
import { StateIndexReader } from '../../reads/stateIndex.ts';
import {
  checkBatch,
  checkExpectedSeq,
  checkPoints,
  checkNewRun,
  headerToStore,
  historyEntry,
  joinRecord,
  listedSummary,
  patchEntry,
  splitRecord,
  summaryFromText,
  summaryPatch,
  summaryToTruncate,
  truncatedSummary,
} from '../runStore.ts';
import type { AppendOptions, HistoryEntry, ListedRow, ListRunsFilter, PatchEntry, RunStore, SeqRange } from '../runStore.ts';
import { LeaseLostError, RunExistsError, RunNotFoundError } from '../../format/storageErrors.ts';
import type { PostgresPoolSettings } from './poolSettings.ts';
import type { MachineEntry } from '../../format/machineEntry.ts';
import { machineFromText, machineText } from '../machineGraphs.ts';
import { LEASE_LOST, NO_SUCH_RUN, STALE_CHAIN, UNEXPECTED_SEQ } from './postgresSchema.ts';
import { PostgresDatabase } from './PostgresDatabase.ts';
import { listRunsQuery } from './postgresListing.ts';
import { threadOfHeader, type ListedRun } from '../listing.ts';
import { RunLeases, type SqlExecutor } from './runLeases.ts';
import type { LiveChannel } from '../../live/liveChannel.ts';
import { PostgresChannel } from '../../live/postgresChannel.ts';

/** Options of the PostgreSQL store; the connection string defaults to STATECRAFT_DATABASE_URL, then DATABASE_URL. */
export interface PostgresStoreOptions {
  connectionString?: string;
  schema?: string;
  pool?: PostgresPoolSettings;
  /** Refuse a schema that does not exist yet instead of creating it (commands that only read or change recorded runs). */
  mustExist?: boolean;
}

const UNIQUE_VIOLATION = '23505';
const executor = (client: PoolClient): SqlExecutor => ({ executeSql: (text, values) => client.query(text, values) });

/**
 * A RunStore in PostgreSQL tables under one schema, created on first use; many processes may share it.
 * It needs the `pg` package (an optional peer dependency, `npm install pg`), loaded when it first connects.
 * @example
 * const store = new PostgresStore({ connectionString: 'postgres://localhost/app', schema: 'statecraft' });
 */
export class PostgresStore implements RunStore {
  readonly schema: string;
  readonly #db: PostgresDatabase;
  readonly #index = new StateIndexReader();
  #live: LiveChannel | undefined;
  readonly #heads = new ChainHeads();
  #leases: RunLeases | undefined;

  constructor(options: PostgresStoreOptions = {}) {
    const connectionString = options.connectionString ?? process.env.STATECRAFT_DATABASE_URL ?? process.env.DATABASE_URL;
    if (!connectionString) {
      throw new UserError('The PostgreSQL store needs a connection string: pass `connectionString` or set STATECRAFT_DATABASE_URL (or DATABASE_URL).');
    }
    this.#db = new PostgresDatabase({ connectionString, schema: options.schema ?? 'statecraft', ...(options.pool ? { pool: options.pool } : {}), ...(options.mustExist ? { mustExist: true } : {}) });
    this.schema = this.#db.schema;
  }

  get #s(): string {
    return this.#db.s;
  }

  async #lastSeq(client: PoolClient, runId: string): Promise<number> {
    const { rows } = await client.query<{ last: number | null }>(`SELECT max(seq) AS last FROM ${this.#s}.records WHERE run_id = $1`, [runId]);
    return rows[0]?.last ?? -1;
  }

  async #writeSummary(client: PoolClient, summary: RunSummary): Promise<void> {
    await client.query(`UPDATE ${this.#s}.runs SET status = $1, updated_at = $2, summary = $3 WHERE run_id = $4`, [
      summary.status,
      summary.updatedAt,
      JSON.stringify(summary),
      summary.runId,
    ]);
  }

  /** `alsoInTransaction` runs after the insert in the same transaction (a run submitted to the queue is created with its ticket, or not at all). */
  async createRun(header: RunHeader, summary: RunSummary, alsoInTransaction?: (db: SqlExecutor) => Promise<void>): Promise<void> {
    const stored = headerToStore(header);
    const initial = checkNewRun(stored, summary);
    const labelled = threadOfHeader(stored);
    this.#heads.forget(header.runId);
    try {
      await this.#db.transaction(async (client) => {
        await client.query(
          `INSERT INTO ${this.#s}.runs (run_id, agent_id, status, parent_run_id, created_at, updated_at, header, summary, thread, tenant) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
          [header.runId, initial.agentId, initial.status, initial.parent?.runId ?? null, initial.createdAt, initial.updatedAt, JSON.stringify(stored), JSON.stringify(initial), labelled.thread, labelled.tenant],
        );
        await alsoInTransaction?.(executor(client));
      });
    } catch (error) {
      if ((error as { code?: string }).code === UNIQUE_VIOLATION) throw new RunExistsError(header.runId);
      throw error;
    }
    this.#heads.created(header.runId, stored);
  }

  /** What sealing a batch from `expectedSeq` needs to read when this store has not written the run's last record. */
  async #chainHead(runId: string, expectedSeq: number): Promise<ChainHeadRow> {
    const { rows } = await this.#db.query<ChainHeadRow>(
      `SELECT header::jsonb->'format' AS format, header::jsonb->>'checksum' AS checksum,
         (SELECT body FROM ${this.#s}.records WHERE run_id = $1 AND seq = $2) AS body,
         (SELECT max(seq) FROM ${this.#s}.records WHERE run_id = $1) AS last
       FROM ${this.#s}.runs WHERE run_id = $1`,
      [runId, expectedSeq - 1],
    );
    if (!rows[0]) throw new RunNotFoundError(runId);
    return rows[0];
  }

  async append(runId: string, records: RunRecord[], options: AppendOptions): Promise<void> {
    checkBatch(runId, records, options.expectedSeq);
    checkPoints(runId, options.points, options.expectedSeq, records.length);
    const points = options.points ?? [];
    const chunks = points.flatMap((point) => point.chunks);
    const patch = summaryPatch(runId, options.summary, options.expectedSeq + records.length - 1);
    await this.#db.whenReady();
    const pool = await this.#db.connections();
    for (let fresh = false; ; fresh = true) {
      const { start, previous } =
        records.length === 0 ? { start: { chained: false }, previous: null } : await this.#heads.start(runId, options.expectedSeq, fresh, () => this.#chainHead(runId, options.expectedSeq));
      if (start.chained) sealChain(start.previous!, records);
      const stored = records.map((record) => splitRecord(record, start.chained));
      try {
        // One round trip: the function locks the run, checks the expected seq, inserts and merges the
        // summary in one statement's transaction (see appendFunction).
        await pool.query({
          name: `statecraft_append_${this.schema}`,
          text: `SELECT ${this.#s}.append_records($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
          values: [
            runId,
            options.expectedSeq,
            stored.map((record) => record.body),
            stored.map((record) => record.patch),
            stored.map((record) => record.snapshot),
            chunks.map((chunk) => chunk.id),
            chunks.map((chunk) => encodeText(chunk.text)),
            points.map((point) => point.seq),
            points.map((point) => encodeText(point.root)),
            JSON.stringify(patch),
            options.sync === true,
            previous,
            options.lease ?? null,
          ],
        });
      } catch (error) {
        this.#heads.forget(runId);
        // Another process cut the run back and wrote it again since this store last wrote it: sealed again from what is stored.
        if ((error as { code?: string }).code === STALE_CHAIN && !fresh) continue;
        throw this.#appendError(runId, options, error);
      }
      if (start.chained && stored.length > 0) this.#heads.written(runId, records.at(-1)!.seq, records.at(-1)!.checksum, stored.at(-1)!.body as Uint8Array);
      return;
    }
  }

  /** The error an append failed with, in the store's words. */
  #appendError(runId: string, { expectedSeq, lease }: AppendOptions, error: unknown): Error {
    const { code, detail } = error as { code?: string; detail?: string };
    if (code === NO_SUCH_RUN) return new RunNotFoundError(runId);
    if (code === LEASE_LOST) return new LeaseLostError(runId, lease, JSON.parse(detail ?? '{}') as object, { cause: error });
    if (code === UNEXPECTED_SEQ) checkExpectedSeq(runId, expectedSeq, Number(detail));
    if (code === UNIQUE_VIOLATION) {
      return new ConflictError(
        `Run "${runId}": a record from seq ${expectedSeq} on already exists; another writer appended first: reload the run and retry after its last seq.`,
        { cause: error },
      );
    }
    return new StorageError(`PostgreSQL at ${this.#db.where} failed to append to run "${runId}": ${(error as Error).message}. Check that the server runs and the connection string.`, {
      cause: error,
    });
  }

  // Reads of one statement go without a transaction: one round trip instead of three.
  async header(runId: string): Promise<RunHeader> {
    const { rows } = await this.#db.query<{ header: string }>(`SELECT header FROM ${this.#s}.runs WHERE run_id = $1`, [runId]);
    if (!rows[0]) throw new RunNotFoundError(runId);
    return parseHeader(JSON.parse(rows[0].header), { runId });
  }

  async summary(runId: string): Promise<RunSummary> {
    const { rows } = await this.#db.query<{ summary: string }>(`SELECT summary FROM ${this.#s}.runs WHERE run_id = $1`, [runId]);
    if (!rows[0]) throw new RunNotFoundError(runId);
    return summaryFromText(rows[0].summary, runId);
  }

  /** Throws RunNotFoundError when a read found no rows because the run does not exist. */
  async #mustExist(runId: string): Promise<void> {
    const { rows } = await this.#db.query(`SELECT 1 FROM ${this.#s}.runs WHERE run_id = $1`, [runId]);
    if (!rows[0]) throw new RunNotFoundError(runId);
  }

  async read(runId: string, range: SeqRange = {}): Promise<RunRecord[]> {
    const { rows } = await this.#db.query<{ seq: number; body: Uint8Array; patch: Uint8Array | null; snapshot: Uint8Array | null }>(
      `SELECT seq, body, patch, snapshot FROM ${this.#s}.records WHERE run_id = $1 AND seq BETWEEN $2 AND $3 ORDER BY seq`,
      [runId, range.from ?? 0, range.to ?? 2 ** 31 - 1],
    );
    if (rows.length === 0) await this.#mustExist(runId);
    return rows.map((row) => joinRecord(row, runId, row.seq));
  }

  async readHistory(runId: string, range: SeqRange = {}): Promise<HistoryEntry[]> {
    const { rows } = await this.#db.query<{ seq: number; body: Uint8Array }>(
      `SELECT seq, body FROM ${this.#s}.records WHERE run_id = $1 AND seq BETWEEN $2 AND $3 ORDER BY seq`,
      [runId, range.from ?? 0, range.to ?? 2 ** 31 - 1],
    );
    if (rows.length === 0) await this.#mustExist(runId);
    return rows.map((row) => historyEntry(row.body, runId, row.seq));
  }

  async readPatches(runId: string, range: SeqRange = {}): Promise<PatchEntry[]> {
    // The body is read only for rows written before the patch column existed.
    const { rows } = await this.#db.query<{ seq: number; body: Uint8Array | null; patch: Uint8Array | null }>(
      `SELECT seq, CASE WHEN patch IS NULL THEN body END AS body, patch FROM ${this.#s}.records WHERE run_id = $1 AND seq BETWEEN $2 AND $3 ORDER BY seq`,
      [runId, range.from ?? 0, range.to ?? 2 ** 31 - 1],
    );
    if (rows.length === 0) await this.#mustExist(runId);
    return rows.map((row) => patchEntry({ body: row.body ?? '', patch: row.patch }, runId, row.seq));
  }

  async keyframeSeqAtOrBefore(runId: string, seq: number): Promise<number> {
    const { rows } = await this.#db.query<{ seq: number }>(
      `SELECT seq FROM ${this.#s}.records WHERE run_id = $1 AND seq <= $2 AND snapshot IS NOT NULL ORDER BY seq DESC LIMIT 1`,
      [runId, seq],
    );
    if (rows.length === 0) await this.#mustExist(runId);
    return rows[0]?.seq ?? -1;
  }

  async keyframeAtOrBefore(runId: string, seq: number): Promise<RunRecord | undefined> {
    const { rows } = await this.#db.query<{ seq: number; body: Uint8Array; patch: Uint8Array | null; snapshot: Uint8Array | null }>(
      `SELECT seq, body, patch, snapshot FROM ${this.#s}.records WHERE run_id = $1 AND seq <= $2 AND snapshot IS NOT NULL ORDER BY seq DESC LIMIT 1`,
      [runId, seq],
    );
    if (rows.length === 0) await this.#mustExist(runId);
    return rows[0] ? joinRecord(rows[0], runId, rows[0].seq) : undefined;
  }

  async statePointSeqAtOrBefore(runId: string, seq: number): Promise<number> {
    const { rows } = await this.#db.query<{ seq: number }>(`SELECT seq FROM ${this.#s}.state_index WHERE run_id = $1 AND seq <= $2 ORDER BY seq DESC LIMIT 1`, [
      runId,
      seq,
    ]);
    return rows[0]?.seq ?? -1;
  }

  async statePointAt(runId: string, seq: number): Promise<Json | undefined> {
    const { rows } = await this.#db.query<{ root: Uint8Array }>(`SELECT root FROM ${this.#s}.state_index WHERE run_id = $1 AND seq = $2`, [runId, seq]);
    if (!rows[0]) return undefined;
    return this.#index.decode(runId, rows[0].root, async (ids) => {
      const found = await this.#db.query<{ id: string; data: Uint8Array }>(`SELECT id, data FROM ${this.#s}.state_chunks WHERE run_id = $1 AND id = ANY($2::text[])`, [
        runId,
        ids,
      ]);
      return found.rows;
    });
  }

  async listRuns(filter: ListRunsFilter = {}): Promise<ListedRun[]> {
    const { sql, params } = listRunsQuery(this.#s, filter);
    const { rows } = await this.#db.query<ListedRow>(sql, params);
    return rows.map(listedSummary);
  }

  async saveMachines(entries: MachineEntry[]): Promise<void> {
    const rows = entries.map((entry) => [entry.id, entry.hash, machineText(entry)]);
    if (rows.length === 0) return;
    await this.#db.transaction(async (client) => {
      for (const row of rows) await client.query(`INSERT INTO ${this.#s}.machines (machine_id, hash, body) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, row);
    });
  }

  async machine(id: string, hash: string): Promise<MachineEntry | undefined> {
    const { rows } = await this.#db.query<{ body: string }>(`SELECT body FROM ${this.#s}.machines WHERE machine_id = $1 AND hash = $2`, [id, hash]);
    return rows[0] === undefined ? undefined : machineFromText(rows[0].body, id, hash, `the PostgreSQL store (schema "${this.schema}")`);
  }

  async deleteRun(runId: string): Promise<void> {
    this.#heads.forget(runId);
    await this.#db.transaction(async (client) => {
      const { rowCount } = await client.query(`DELETE FROM ${this.#s}.runs WHERE run_id = $1`, [runId]);
      if (!rowCount) throw new RunNotFoundError(runId);
    });
  }

  async truncate(runId: string, afterSeq: number, update?: Partial<RunSummary>): Promise<number> {
    this.#heads.forget(runId);
    return this.#db.transaction(async (client) => {
      const { rows } = await client.query<{ header: string; summary: string }>(`SELECT header, summary FROM ${this.#s}.runs WHERE run_id = $1 FOR UPDATE`, [runId]);
      if (!rows[0]) throw new RunNotFoundError(runId);
      const current = summaryToTruncate(rows[0].summary, rows[0].header, runId, update !== undefined);
      const { rowCount } = await client.query(`DELETE FROM ${this.#s}.records WHERE run_id = $1 AND seq > $2`, [runId, afterSeq]);
      // Chunks stay: they are named by their content, and a later state may name them again.
      await client.query(`DELETE FROM ${this.#s}.state_index WHERE run_id = $1 AND seq > $2`, [runId, afterSeq]);
      const summary = truncatedSummary(current, update, rowCount ?? 0, await this.#lastSeq(client, runId));
      if (summary) await this.#writeSummary(client, summary);
      return rowCount ?? 0;
    });
  }

  /** The leases workers hold this store's runs by (see RunLeases), sharing the store's connections. */
  leases(): RunLeases {
    return (this.#leases ??= new RunLeases(this.#s, (work) => this.#db.transaction((client) => work(executor(client))), this.#db.where));
  }

  /** One statement at a time on the store's connections, once its schema exists (the workers' queue shares them). */
  executor(): SqlExecutor {
    return {
      executeSql: async (text, values) => {
        await this.#db.whenReady();
        return (await this.#db.connections()).query(text, values as unknown[]);
      },
    };
  }

  /** Where the store is, with any password hidden, for messages. */
  get where(): string {
    return this.#db.where;
  }

  /** NOTIFY and LISTEN on a channel of the store's schema, over connections of its own. */
  liveChannel(): LiveChannel {
    return (this.#live ??= new PostgresChannel({ connection: this.#db.poolSettings, schema: this.schema }));
  }

  async close(): Promise<void> {
    await this.#live?.close();
    await this.#db.close();
  }
}
