import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type Database from 'better-sqlite3';
import { StorageError } from '../errors.ts';
import { openSqlite } from '../log/stores/sqlite/sqliteWrite.ts';
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

/**
 * The memory tables, made on first use beside the run store's (as the service's tables are), so the
 * run store's schema mark is not changed by them. The full-text table deletes securely: a deleted
 * note's words leave the index at once, not at the next merge.
 */
const SCHEMA = `
CREATE TABLE IF NOT EXISTS memory_notes (
  rowid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE,
  tenant TEXT NOT NULL, user_id TEXT NOT NULL, agent TEXT NOT NULL, thread TEXT NOT NULL,
  written_by TEXT NOT NULL, run_id TEXT, text TEXT NOT NULL, tags TEXT NOT NULL, created_at TEXT NOT NULL, embedding BLOB
);
CREATE INDEX IF NOT EXISTS memory_notes_by_scope ON memory_notes (tenant, user_id, agent, thread);
CREATE INDEX IF NOT EXISTS memory_notes_by_writer ON memory_notes (written_by);
CREATE VIRTUAL TABLE IF NOT EXISTS memory_notes_fts USING fts5(text, tags, tokenize = 'porter unicode61');
INSERT INTO memory_notes_fts (memory_notes_fts, rank) VALUES ('secure-delete', 1);
CREATE TABLE IF NOT EXISTS memory_working (
  tenant TEXT NOT NULL, user_id TEXT NOT NULL, agent TEXT NOT NULL, thread TEXT NOT NULL, version INTEGER NOT NULL,
  value TEXT NOT NULL, written_by TEXT NOT NULL, run_id TEXT, updated_at TEXT NOT NULL,
  PRIMARY KEY (tenant, user_id, agent, thread, version)
);
CREATE INDEX IF NOT EXISTS memory_working_by_writer ON memory_working (written_by);
`;

interface NoteRow {
  rowid: number;
  id: string;
  tenant: string;
  user_id: string;
  agent: string;
  thread: string;
  written_by: string;
  run_id: string | null;
  text: string;
  tags: string;
  created_at: string;
  embedding?: Buffer | null;
  rank?: number;
}

interface WorkingRow {
  tenant: string;
  user_id: string;
  agent: string;
  thread: string;
  version: number;
  value: string;
  written_by: string;
  run_id: string | null;
  updated_at: string;
}

const SCOPED = 'n.tenant = ? AND n.user_id = ? AND n.agent = ? AND n.thread = ?';
const COLUMNS = 'n.rowid, n.id, n.tenant, n.user_id, n.agent, n.thread, n.written_by, n.run_id, n.text, n.tags, n.created_at';

const noteOf = (row: NoteRow): Note => ({
  id: row.id,
  scope: { tenant: row.tenant, user: row.user_id, agent: row.agent, thread: row.thread },
  text: row.text,
  tags: JSON.parse(row.tags) as string[],
  writtenBy: row.written_by,
  runId: row.run_id,
  createdAt: row.created_at,
});

const workingOf = (row: WorkingRow): WorkingMemory => ({
  scope: { tenant: row.tenant, user: row.user_id, agent: row.agent, thread: row.thread },
  version: row.version,
  value: JSON.parse(row.value) as Record<string, unknown>,
  writtenBy: row.written_by,
  runId: row.run_id,
  updatedAt: row.updated_at,
});

const vector = (blob: Buffer) => new Float32Array(blob.buffer.slice(blob.byteOffset, blob.byteOffset + blob.byteLength));

/**
 * Notes and working memory in the SQLite file of the run store (its own connection): full-text recall
 * with FTS5 ranked by BM25; vectors as float32 blobs, ranked by cosine similarity over the scope.
 * @example
 * const memory = new SqliteAgentMemory('.statecraft/runs.db');
 */
export class SqliteAgentMemory implements AgentMemoryStore {
  readonly #db: Database.Database;

  constructor(path: string) {
    try {
      if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
      this.#db = openSqlite(path);
      // Freed pages are overwritten, so a forgotten note's text does not linger in the file.
      this.#db.pragma('secure_delete = ON');
      this.#db.exec(SCHEMA);
    } catch (error) {
      throw new StorageError(`Could not open the memory tables in SQLite file ${path}: ${(error as Error).message}. Check that the path is a writable run store.`, { cause: error });
    }
  }

  async remember(note: NewNote): Promise<Note> {
    const scope = storedScope(note.scope);
    const row: NoteRow = {
      rowid: 0,
      id: randomUUID(),
      tenant: scope.tenant,
      user_id: scope.user,
      agent: scope.agent,
      thread: scope.thread,
      written_by: note.writtenBy ?? scope.user,
      run_id: note.runId ?? null,
      text: note.text,
      tags: JSON.stringify(note.tags ?? []),
      created_at: new Date().toISOString(),
    };
    const embedding = note.embedding ? Buffer.from(new Float32Array(note.embedding).buffer) : null;
    this.#db.transaction(() => {
      const { lastInsertRowid } = this.#db
        .prepare('INSERT INTO memory_notes (id, tenant, user_id, agent, thread, written_by, run_id, text, tags, created_at, embedding) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)')
        .run(row.id, row.tenant, row.user_id, row.agent, row.thread, row.written_by, row.run_id, row.text, row.tags, row.created_at, embedding);
      this.#db.prepare('INSERT INTO memory_notes_fts (rowid, text, tags) VALUES (?, ?, ?)').run(lastInsertRowid, row.text, (note.tags ?? []).join(' '));
    })();
    return noteOf(row);
  }

  async recall(scope: MemoryScope, query: RecallQuery): Promise<RecalledNote[]> {
    const limit = checkLimit(query.limit);
    const s = storedScope(scope);
    const params = [s.tenant, s.user, s.agent, s.thread];
    if (query.embedding) {
      const rows = this.#db.prepare<unknown[], NoteRow>(`SELECT ${COLUMNS}, n.embedding FROM memory_notes n WHERE ${SCOPED} AND n.embedding IS NOT NULL`).all(...params);
      return topScored(rows.map((row) => ({ ...noteOf(row), score: cosine(query.embedding!, vector(row.embedding!)) })), limit, query.minScore);
    }
    const words = wordsOf(query.text);
    if (!words.length) return [];
    const match = words.map((word) => `"${word}"`).join(' OR ');
    const rows = this.#db
      .prepare<unknown[], NoteRow>(
        `SELECT ${COLUMNS}, bm25(memory_notes_fts) AS rank FROM memory_notes_fts JOIN memory_notes n ON n.rowid = memory_notes_fts.rowid
         WHERE memory_notes_fts MATCH ? AND ${SCOPED} ORDER BY rank LIMIT ?`,
      )
      .all(match, ...params, limit);
    // FTS5's bm25 is negative, lower is better: the score is its negation.
    return rows.map((row) => ({ ...noteOf(row), score: -(row.rank ?? 0) }));
  }

  async notes(scope: MemoryScope, options: { limit?: number } = {}): Promise<Note[]> {
    const s = storedScope(scope);
    return this.#db
      .prepare<unknown[], NoteRow>(`SELECT ${COLUMNS} FROM memory_notes n WHERE ${SCOPED} ORDER BY n.rowid DESC LIMIT ?`)
      .all(s.tenant, s.user, s.agent, s.thread, options.limit ?? 100)
      .map(noteOf);
  }

  async forget(id: string, within: Pick<MemoryScope, 'tenant' | 'user'> = {}): Promise<boolean> {
    const row = this.#db.prepare<[string], NoteRow>(`SELECT ${COLUMNS} FROM memory_notes n WHERE n.id = ?`).get(id);
    if (!row) return false;
    if (within.tenant !== undefined && row.tenant !== within.tenant) return false;
    if (within.user !== undefined && row.user_id !== within.user && row.written_by !== within.user) return false;
    this.#deleteNotes([row.rowid]);
    return true;
  }

  async forgetUser(user: string, options: { tenant?: string } = {}): Promise<number> {
    const tenant = options.tenant === undefined ? '' : ' AND tenant = ?';
    const params = options.tenant === undefined ? [user, user] : [user, user, options.tenant];
    return this.#db.transaction(() => {
      const rowids = this.#db.prepare<unknown[], { rowid: number }>(`SELECT rowid FROM memory_notes WHERE (user_id = ? OR written_by = ?)${tenant}`).all(...params);
      this.#deleteNotes(rowids.map((r) => r.rowid));
      const working = this.#db.prepare(`DELETE FROM memory_working WHERE (user_id = ? OR written_by = ?)${tenant}`).run(...params);
      return rowids.length + working.changes;
    })();
  }

  #deleteNotes(rowids: number[]) {
    const fts = this.#db.prepare('DELETE FROM memory_notes_fts WHERE rowid = ?');
    const notes = this.#db.prepare('DELETE FROM memory_notes WHERE rowid = ?');
    this.#db.transaction(() => {
      for (const rowid of rowids) fts.run(rowid), notes.run(rowid);
    })();
  }

  async working(scope: MemoryScope): Promise<WorkingMemory | undefined> {
    const s = storedScope(scope);
    const row = this.#db
      .prepare<unknown[], WorkingRow>('SELECT * FROM memory_working WHERE tenant = ? AND user_id = ? AND agent = ? AND thread = ? ORDER BY version DESC LIMIT 1')
      .get(s.tenant, s.user, s.agent, s.thread);
    return row && workingOf(row);
  }

  async saveWorking(scope: MemoryScope, value: Record<string, unknown>, options: { expectedVersion: number; writtenBy?: string; runId?: string }): Promise<WorkingMemory> {
    const s = storedScope(scope);
    return this.#db.transaction(() => {
      const found = this.#db
        .prepare<unknown[], { version: number | null }>('SELECT max(version) AS version FROM memory_working WHERE tenant = ? AND user_id = ? AND agent = ? AND thread = ?')
        .get(s.tenant, s.user, s.agent, s.thread)?.version ?? 0;
      if (found !== options.expectedVersion) throw workingConflict(s, options.expectedVersion, found);
      const row: WorkingRow = { tenant: s.tenant, user_id: s.user, agent: s.agent, thread: s.thread, version: found + 1, value: JSON.stringify(value), written_by: options.writtenBy ?? s.user, run_id: options.runId ?? null, updated_at: new Date().toISOString() };
      this.#db
        .prepare('INSERT INTO memory_working (tenant, user_id, agent, thread, version, value, written_by, run_id, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
        .run(row.tenant, row.user_id, row.agent, row.thread, row.version, row.value, row.written_by, row.run_id, row.updated_at);
      return workingOf(row);
    })();
  }

  async close(): Promise<void> {
    if (this.#db.open) this.#db.close();
  }
}
