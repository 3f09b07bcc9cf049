// A synced append on a SQLite store in WAL mode is made durable by an fsync of the WAL file off the
// event loop: the append resolves only after that fsync, and appends that ask while one runs share
// the next (group commit). Databases not in WAL mode have nothing to sync this way.
import { mkdtempSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SqliteStore } from '../src/log/stores/sqlite/sqliteStore.ts';
import { walSyncer } from '../src/log/stores/sqlite/walSync.ts';

const dir = mkdtempSync(join(tmpdir(), 'statecraft-walsync-'));

/** An fsync that waits until the test lets it finish. */
function heldSync() {
  const calls: { finish: () => void }[] = [];
  const sync = (_file: FileHandle) => new Promise<void>((resolve) => calls.push({ finish: resolve }));
  return { calls, sync };
}

const settledFlag = (promise: Promise<unknown>) => {
  const flag = { settled: false };
  void promise.then(() => (flag.settled = true));
  return flag;
};
const tick = () => new Promise((resolve) => setTimeout(resolve, 5));
/** Waits (on the file system's pace, not a clock) until `done` holds. */
async function until(done: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !done(); i++) await tick();
}

test('callers wait for an fsync of the WAL that started after they asked; those asking meanwhile share the next one', async () => {
  const db = new Database(join(dir, 'group.db'));
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE t (a INTEGER)');
  db.prepare('INSERT INTO t VALUES (1)').run();
  const held = heldSync();
  const walSync = walSyncer(db, held.sync)!;
  const first = settledFlag(walSync());
  await until(() => held.calls.length > 0);
  assert.is(held.calls.length, 1, 'the first caller starts an fsync');
  const second = settledFlag(walSync());
  const third = settledFlag(walSync());
  await tick();
  assert.is(held.calls.length, 1, 'no second fsync while one runs');
  held.calls[0]!.finish();
  await until(() => first.settled && held.calls.length > 1);
  assert.ok(first.settled, 'the first caller is answered by its fsync');
  assert.not.ok(second.settled || third.settled, 'later callers wait for an fsync that started after they asked');
  assert.is(held.calls.length, 2, 'one more fsync serves both later callers');
  held.calls[1]!.finish();
  await until(() => second.settled && third.settled);
  assert.ok(second.settled && third.settled);
  await walSync.close();
  db.close();
});

test('a database not in WAL mode has no WAL to sync', () => {
  const db = new Database(':memory:');
  assert.is(walSyncer(db), undefined);
  db.close();
  const rollback = new Database(join(dir, 'rollback.db'));
  rollback.pragma('journal_mode = DELETE');
  assert.is(walSyncer(rollback), undefined);
  rollback.close();
});

test('a synced append to a SQLite store is readable by another connection once it resolves, and the store closes cleanly', async () => {
  const path = join(dir, 'runs.db');
  const store = new SqliteStore({ path });
  const runId = 'run-walsync';
  const createdAt = new Date().toISOString();
  await store.createRun(
    { format: 1, runId, agent: { id: 'agent-a', version: '1.0.0' }, machine: { id: 'loop', hash: 'abc123' }, model: { provider: 'scripted', model: 'test', params: {} }, createdAt },
    { runId, agentId: 'agent-a', status: 'running', steps: 0, inputTokens: 0, outputTokens: 0, costUsd: 0, lastSeq: -1, createdAt, updatedAt: createdAt },
  );
  await store.append(runId, [], { expectedSeq: 0, sync: true, summary: { status: 'waiting' } });
  const other = new SqliteStore({ path });
  assert.is((await other.summary(runId)).status, 'waiting');
  await other.close();
  await store.close();
});

test.run();
