import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';

/** The SQLite store's tables and indexes; every statement is safe to run again on an existing file. */
export const SCHEMA = `
CREATE TABLE IF NOT EXISTS runs (
  run_id TEXT PRIMARY KEY,
  agent_id TEXT NOT NULL,
  status TEXT NOT NULL,
  parent_run_id TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  header TEXT NOT NULL,
  summary TEXT NOT NULL,
  thread TEXT,
  tenant TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_updated ON runs (updated_at DESC, run_id);
CREATE TABLE IF NOT EXISTS records (
  run_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  body BLOB NOT NULL,
  snapshot BLOB,
  patch BLOB,
  PRIMARY KEY (run_id, seq)
);
CREATE INDEX IF NOT EXISTS records_keyframes ON records (run_id, seq) WHERE snapshot IS NOT NULL;
CREATE TABLE IF NOT EXISTS state_index (
  run_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  root BLOB NOT NULL,
  PRIMARY KEY (run_id, seq)
);
CREATE TABLE IF NOT EXISTS state_chunks (
  run_id TEXT NOT NULL,
  id TEXT NOT NULL,
  data BLOB NOT NULL,
  PRIMARY KEY (run_id, id)
);
CREATE TABLE IF NOT EXISTS machines (
  machine_id TEXT NOT NULL,
  hash TEXT NOT NULL,
  body TEXT NOT NULL,
  PRIMARY KEY (machine_id, hash)
);
`;

/**
 * Files made before runs kept their thread and tenant in columns get them, filled from the headers'
 * labels (the service's runs name their thread with the label `thread`); then the index that finds
 * a thread's runs, newest first.
 */
export const THREAD_COLUMNS = `
ALTER TABLE runs ADD COLUMN thread TEXT;
ALTER TABLE runs ADD COLUMN tenant TEXT;
UPDATE runs SET
  thread = coalesce(json_extract(header, '$.labels."statecraft.thread"'), json_extract(header, '$.labels.thread')),
  tenant = json_extract(header, '$.labels."statecraft.tenant"')
WHERE json_valid(header);
`;
export const THREAD_INDEX = 'CREATE INDEX IF NOT EXISTS runs_by_thread ON runs (thread, updated_at DESC) WHERE thread IS NOT NULL';

/**
 * better-sqlite3 finds its compiled addon through the `bindings` package, which tries a dozen paths
 * (about 2 ms when a process opens its first store); the place its install builds it is named
 * directly, and the search is left for any other layout.
 */
export const NATIVE_BINDING = (() => {
  try {
    const path = createRequire(import.meta.url).resolve('better-sqlite3/build/Release/better_sqlite3.node');
    return existsSync(path) ? path : undefined;
  } catch {
    return undefined;
  }
})();
