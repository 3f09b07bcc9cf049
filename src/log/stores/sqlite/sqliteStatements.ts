import type Database from 'better-sqlite3';
import { lazily } from '../../format/lazily.ts';
import { LAST_SEQ_SQL } from './sqliteWrite.ts';

export interface RecordRow {
  seq: number;
  body: string | Uint8Array;
  patch: string | Uint8Array | null;
  snapshot: string | Uint8Array | null;
}

type S<P extends unknown[] = unknown[], R = unknown> = Database.Statement<P, R>;

/** The store's statements by name (named in full: declarations cannot name better-sqlite3's inferred ones). */
export interface StoreStatements {
  insertRun: S;
  getRun: S<[string], { header: string; summary: string }>;
  runExists: S<[string], { found: number }>;
  updateSummary: S;
  lastSeq: S<[string], { last: number | null }>;
  readRecords: S<[string, number, number], RecordRow>;
  readPatches: S<[string, number, number], { seq: number; body: string | Uint8Array | null; patch: string | Uint8Array | null }>;
  readBodies: S<[string, number, number], { seq: number; body: string | Uint8Array }>;
  keyframe: S<[string, number], RecordRow>;
  keyframeSeq: S<[string, number], { seq: number }>;
  pointSeq: S<[string, number], { seq: number }>;
  point: S<[string, number], { root: Uint8Array }>;
  chunks: S<[string, string], { id: string; data: Uint8Array }>;
  deletePoints: S;
  deleteChunks: S;
  truncatePoints: S;
  deleteRecords: S;
  deleteRun: S;
  truncate: S;
}

/** The SQLite store's statements, each prepared when first used: a process that reads one run needs a few of them. */
export function storeStatements(db: Database.Database): StoreStatements {
  return lazily({
    insertRun: () => db.prepare(
      'INSERT INTO runs (run_id, agent_id, status, parent_run_id, created_at, updated_at, header, summary, thread, tenant) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    ),
    getRun: () => db.prepare<[string], { header: string; summary: string }>('SELECT header, summary FROM runs WHERE run_id = ?'),
    runExists: () => db.prepare<[string], { found: number }>('SELECT 1 AS found FROM runs WHERE run_id = ?'),
    updateSummary: () => db.prepare('UPDATE runs SET status = ?, updated_at = ?, summary = ? WHERE run_id = ?'),
    lastSeq: () => db.prepare<[string], { last: number | null }>(LAST_SEQ_SQL),
    readRecords: () => db.prepare<[string, number, number], RecordRow>(
      'SELECT seq, body, patch, snapshot FROM records WHERE run_id = ? AND seq BETWEEN ? AND ? ORDER BY seq',
    ),
    // The body is read only for rows written before the patch column existed.
    readPatches: () => db.prepare<[string, number, number], { seq: number; body: string | Uint8Array | null; patch: string | Uint8Array | null }>(
      'SELECT seq, CASE WHEN patch IS NULL THEN body END AS body, patch FROM records WHERE run_id = ? AND seq BETWEEN ? AND ? ORDER BY seq',
    ),
    readBodies: () => db.prepare<[string, number, number], { seq: number; body: string | Uint8Array }>(
      'SELECT seq, body FROM records WHERE run_id = ? AND seq BETWEEN ? AND ? ORDER BY seq',
    ),
    keyframe: () => db.prepare<[string, number], RecordRow>(
      'SELECT seq, body, patch, snapshot FROM records WHERE run_id = ? AND seq <= ? AND snapshot IS NOT NULL ORDER BY seq DESC LIMIT 1',
    ),
    keyframeSeq: () => db.prepare<[string, number], { seq: number }>(
      'SELECT seq FROM records WHERE run_id = ? AND seq <= ? AND snapshot IS NOT NULL ORDER BY seq DESC LIMIT 1',
    ),
    pointSeq: () => db.prepare<[string, number], { seq: number }>('SELECT seq FROM state_index WHERE run_id = ? AND seq <= ? ORDER BY seq DESC LIMIT 1'),
    point: () => db.prepare<[string, number], { root: Uint8Array }>('SELECT root FROM state_index WHERE run_id = ? AND seq = ?'),
    chunks: () => db.prepare<[string, string], { id: string; data: Uint8Array }>(
      'SELECT id, data FROM state_chunks WHERE run_id = ? AND id IN (SELECT value FROM json_each(?))',
    ),
    deletePoints: () => db.prepare('DELETE FROM state_index WHERE run_id = ?'),
    deleteChunks: () => db.prepare('DELETE FROM state_chunks WHERE run_id = ?'),
    truncatePoints: () => db.prepare('DELETE FROM state_index WHERE run_id = ? AND seq > ?'),
    deleteRecords: () => db.prepare('DELETE FROM records WHERE run_id = ?'),
    deleteRun: () => db.prepare('DELETE FROM runs WHERE run_id = ?'),
    truncate: () => db.prepare('DELETE FROM records WHERE run_id = ? AND seq > ?'),
  });
}
