import { randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import { StorageError, UserError } from '../errors.ts';
import { importPeer } from '../importPeer.ts';
import {
  checkLimit,
  cosine,
  storedScope,
  topScored,
  wordsOf,
  workingConflict,
  type AgentMemoryStore,
  type MemoryScope,
  type NewNote,
  type Note,
  type RecallQuery,
  type RecalledNote,
  type WorkingMemory,
} from './agentMemoryStore.ts';
import { LEXEMES, recallStatement, tsqueryOf } from './postgresRecall.ts';
import { withAdvisoryLock } from '../log/stores/postgres/advisoryLock.ts';

/** The memory tables, made on first use in the run store's schema; the text is indexed as an English tsvector (GIN). */
const statements = (s: string) => [
  `CREATE SCHEMA IF NOT EXISTS ${s}`,
  `CREATE TABLE IF NOT EXISTS ${s}.memory_notes (
    id text PRIMARY KEY, tenant text NOT NULL, user_id text NOT NULL, agent text NOT NULL, thread text NOT NULL,
    written_by text NOT NULL, run_id text, text text NOT NULL, tags text[] NOT NULL, tag_words text NOT NULL, created_at timestamptz NOT NULL, embedding real[],
    tsv tsvector GENERATED ALWAYS AS (to_tsvector('english'::regconfig, text || ' ' || tag_words)) STORED)`,
  // No pending list (fastupdate): every recall would read its unsorted entries, up to 4 MB of them
  // between vacuums: most of PostgreSQL's time in a recall over 100,000 notes (bench/RESULTS.md).
  `CREATE INDEX IF NOT EXISTS memory_notes_tsv ON ${s}.memory_notes USING gin (tsv) WITH (fastupdate = off)`,
  `DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_class WHERE oid = '${s}.memory_notes_tsv'::regclass AND 'fastupdate=off' = ANY (reloptions)) THEN
      ALTER INDEX ${s}.memory_notes_tsv SET (fastupdate = off);
      PERFORM gin_clean_pending_list('${s}.memory_notes_tsv'::regclass);
    END IF;
  END $$`,
  `CREATE INDEX IF NOT EXISTS memory_notes_by_scope ON ${s}.memory_notes (tenant, user_id, agent, thread, created_at DESC)`,
  `CREATE INDEX IF NOT EXISTS memory_notes_by_writer ON ${s}.memory_notes (written_by)`,
  `CREATE TABLE IF NOT EXISTS ${s}.memory_working (
    tenant text NOT NULL, user_id text NOT NULL, agent text NOT NULL, thread text NOT NULL, version integer NOT NULL,
    value jsonb NOT NULL, written_by text NOT NULL, run_id text, updated_at timestamptz NOT NULL,
    PRIMARY KEY (tenant, user_id, agent, thread, version))`,
  `CREATE INDEX IF NOT EXISTS memory_working_by_writer ON ${s}.memory_working (written_by)`,
];

const UNIQUE_VIOLATION = '23505';
const SCOPED = 'tenant = $1 AND user_id = $2 AND agent = $3 AND thread = $4';
const COLUMN_NAMES = ['id', 'tenant', 'user_id', 'agent', 'thread', 'written_by', 'run_id', 'text', 'tags', 'created_at'] as const;
const COLUMNS = COLUMN_NAMES.join(', ');

interface NoteRow {
  id: string;
  tenant: string;
  user_id: string;
  agent: string;
  thread: string;
  written_by: string;
  run_id: string | null;
  text: string;
  tags: string[];
  created_at: Date;
  embedding?: number[] | null;
  score?: number;
}

interface WorkingRow {
  tenant: string;
  user_id: string;
  agent: string;
  thread: string;
  version: number;
  value: Record<string, unknown>;
  written_by: string;
  run_id: string | null;
  updated_at: Date;
}

const noteOf = (row: NoteRow): Note => ({
  id: row.id,
  scope: { tenant: row.tenant, user: row.user_id, agent: row.agent, thread: row.thread },
  text: row.text,
  tags: row.tags,
  writtenBy: row.written_by,
  runId: row.run_id,
  createdAt: new Date(row.created_at).toISOString(),
});

const workingOf = (row: WorkingRow): WorkingMemory => ({
  scope: { tenant: row.tenant, user: row.user_id, agent: row.agent, thread: row.thread },
  version: row.version,
  value: row.value,
  writtenBy: row.written_by,
  runId: row.run_id,
  updatedAt: new Date(row.updated_at).toISOString(),
});

/**
 * Notes and working memory in the PostgreSQL schema of the run store: full-text recall with a
 * tsvector (GIN), ranked by the rarity of the words each note holds, in one statement; vectors as
 * `real[]`, ranked by cosine similarity over the scope. Needs `pg` (an optional peer), loaded on first use.
 * @example
 * const memory = new PostgresAgentMemory({ connectionString: 'postgres://localhost/app', schema: 'statecraft' });
 */
export class PostgresAgentMemory implements AgentMemoryStore {
  readonly #s: string;
  readonly #connectionString: string;
  #pool: Promise<Pool> | undefined;
  #ready: Promise<void> | undefined;

  constructor(options: { connectionString: string; schema?: string }) {
    const schema = options.schema ?? 'statecraft';
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(schema)) {
      throw new UserError(`PostgreSQL schema name "${schema}" is not allowed: use letters, digits and underscores, starting with a letter or underscore.`);
    }
    this.#s = `"${schema}"`;
    this.#connectionString = options.connectionString;
  }

  async #query<R extends object>(sql: string | { name: string; text: string }, params: unknown[] = []): Promise<R[]> {
    this.#pool ??= importPeer(() => import('pg'), 'pg', 'PostgreSQL memory stores need').then(({ default: pg }) => {
      const pool = new pg.Pool({ connectionString: this.#connectionString, max: 4 });
      pool.on('error', () => {});
      return pool;
    });
    const pool = await this.#pool;
    this.#ready ??= withAdvisoryLock(pool, `statecraft-memory:${this.#s}`, async (query) => {
      for (const statement of statements(this.#s)) await query(statement);
    }).catch((error: unknown) => {
      this.#ready = undefined;
      throw error;
    });
    try {
      await this.#ready;
      return (await pool.query<R>(typeof sql === 'string' ? { text: sql, values: params } : { ...sql, values: params })).rows;
    } catch (error) {
      if ((error as { code?: string }).code === UNIQUE_VIOLATION) throw error;
      throw new StorageError(`PostgreSQL failed a query of the memory tables: ${(error as Error).message}. Check that the server runs and the connection string.`, { cause: error });
    }
  }

  async remember(note: NewNote): Promise<Note> {
    const s = storedScope(note.scope);
    const [row] = await this.#query<NoteRow>(
      `INSERT INTO ${this.#s}.memory_notes (id, tenant, user_id, agent, thread, written_by, run_id, text, tags, tag_words, created_at, embedding)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, now(), $11) RETURNING ${COLUMNS}`,
      [randomUUID(), s.tenant, s.user, s.agent, s.thread, note.writtenBy ?? s.user, note.runId ?? null, note.text, [...(note.tags ?? [])], (note.tags ?? []).join(' '), note.embedding ? [...note.embedding] : null],
    );
    return noteOf(row!);
  }

  async recall(scope: MemoryScope, query: RecallQuery): Promise<RecalledNote[]> {
    const limit = checkLimit(query.limit);
    const s = storedScope(scope);
    const params = [s.tenant, s.user, s.agent, s.thread];
    if (query.embedding) {
      const rows = await this.#query<NoteRow>(`SELECT ${COLUMNS}, embedding FROM ${this.#s}.memory_notes WHERE ${SCOPED} AND embedding IS NOT NULL`, params);
      return topScored(rows.map((row) => ({ ...noteOf(row), score: cosine(query.embedding!, row.embedding!) })), limit, query.minScore);
    }
    const words = wordsOf(query.text);
    if (!words.length) return [];
    const lexemes = (await this.#query<{ lexeme: string }>({ name: 'statecraft_memory_lexemes', text: LEXEMES }, [words.join(' ')])).map((row) => tsqueryOf(row.lexeme));
    if (!lexemes.length) return [];
    const rows = await this.#query<NoteRow>(recallStatement(this.#s, COLUMN_NAMES, lexemes.length), [...params, lexemes.join(' | '), limit, ...lexemes]);
    return rows.map((row) => ({ ...noteOf(row), score: Number(row.score) }));
  }

  async notes(scope: MemoryScope, options: { limit?: number } = {}): Promise<Note[]> {
    const s = storedScope(scope);
    const rows = await this.#query<NoteRow>(`SELECT ${COLUMNS} FROM ${this.#s}.memory_notes WHERE ${SCOPED} ORDER BY created_at DESC, id LIMIT $5`, [s.tenant, s.user, s.agent, s.thread, options.limit ?? 100]);
    return rows.map(noteOf);
  }

  async forget(id: string, within: Pick<MemoryScope, 'tenant' | 'user'> = {}): Promise<boolean> {
    const rows = await this.#query<{ id: string }>(
      `DELETE FROM ${this.#s}.memory_notes WHERE id = $1 AND ($2::text IS NULL OR tenant = $2) AND ($3::text IS NULL OR user_id = $3 OR written_by = $3) RETURNING id`,
      [id, within.tenant ?? null, within.user ?? null],
    );
    return rows.length > 0;
  }

  async forgetUser(user: string, options: { tenant?: string } = {}): Promise<number> {
    const params = [user, options.tenant ?? null];
    const where = '(user_id = $1 OR written_by = $1) AND ($2::text IS NULL OR tenant = $2)';
    const [counts] = await this.#query<{ notes: string; working: string }>(
      `WITH n AS (DELETE FROM ${this.#s}.memory_notes WHERE ${where} RETURNING 1), w AS (DELETE FROM ${this.#s}.memory_working WHERE ${where} RETURNING 1)
       SELECT (SELECT count(*) FROM n) AS notes, (SELECT count(*) FROM w) AS working`,
      params,
    );
    return Number(counts?.notes ?? 0) + Number(counts?.working ?? 0);
  }

  async working(scope: MemoryScope): Promise<WorkingMemory | undefined> {
    const s = storedScope(scope);
    const [row] = await this.#query<WorkingRow>(`SELECT * FROM ${this.#s}.memory_working WHERE ${SCOPED} ORDER BY version DESC LIMIT 1`, [s.tenant, s.user, s.agent, s.thread]);
    return row && workingOf(row);
  }

  async saveWorking(scope: MemoryScope, value: Record<string, unknown>, options: { expectedVersion: number; writtenBy?: string; runId?: string }): Promise<WorkingMemory> {
    const s = storedScope(scope);
    const current = (await this.working(s))?.version ?? 0;
    if (current !== options.expectedVersion) throw workingConflict(s, options.expectedVersion, current);
    try {
      // The primary key refuses a second writer of the same version.
      const [row] = await this.#query<WorkingRow>(
        `INSERT INTO ${this.#s}.memory_working (tenant, user_id, agent, thread, version, value, written_by, run_id, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now()) RETURNING *`,
        [s.tenant, s.user, s.agent, s.thread, current + 1, JSON.stringify(value), options.writtenBy ?? s.user, options.runId ?? null],
      );
      return workingOf(row!);
    } catch (error) {
      if ((error as { code?: string }).code === UNIQUE_VIOLATION) throw workingConflict(s, options.expectedVersion, current + 1);
      throw error;
    }
  }

  async close(): Promise<void> {
    const pool = this.#pool;
    this.#pool = undefined;
    if (pool) await (await pool).end();
  }
}
