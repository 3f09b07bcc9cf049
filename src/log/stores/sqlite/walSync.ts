import { open, type FileHandle } from 'node:fs/promises';
import type Database from 'better-sqlite3';

/** Makes the commits already in a WAL file durable; `close` lets go of the file. */
export interface WalSync {
  (): Promise<void>;
  close(): Promise<void>;
}

/**
 * Durable commits without holding the event loop: a commit made with synchronous=NORMAL is in the WAL
 * file (safe from a crash of the process), and an fsync of that file, run on libuv's thread pool,
 * makes it survive power loss too, as synchronous=FULL would have at the commit. An fsync'd commit
 * held the event loop for 7 to 9 ms on a loaded disk (a plain one 40 to 140 us), so a service that
 * starts a tool in each of 50 runs a second spent most of its time waiting on fsync in the main thread.
 * Callers that ask while an fsync runs share the next one (group commit). Undefined when the database
 * is not in WAL mode (in memory, or a file system without shared memory): the caller then syncs in the commit.
 */
export function walSyncer(db: Database.Database, sync: (file: FileHandle) => Promise<void> = (file) => file.sync()): WalSync | undefined {
  if (db.memory || String(db.pragma('journal_mode', { simple: true })).toLowerCase() !== 'wal') return undefined;
  let file: Promise<FileHandle> | undefined;
  let running: Promise<void> | undefined;
  let queued: Promise<void> | undefined;
  const once = async () => {
    // Opened after the first commit, so the WAL exists; it stays while this connection is open.
    file ??= open(`${db.name}-wal`, 'r');
    await sync(await file);
  };
  const walSync = (): Promise<void> => {
    if (!running) {
      const started = once().finally(() => running === started && (running = undefined));
      running = started;
      return started;
    }
    // The running fsync may have started before this caller's commit: the next one covers it.
    queued ??= running.catch(() => undefined).then(() => {
      queued = undefined;
      return walSync();
    });
    return queued;
  };
  walSync.close = async () => {
    await Promise.allSettled([running, queued]);
    await (await file?.catch(() => undefined))?.close();
    file = undefined;
  };
  return walSync;
}
