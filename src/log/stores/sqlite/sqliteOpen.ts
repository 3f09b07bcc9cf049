import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import type Database from 'better-sqlite3';
import { StorageError } from '../../../errors.ts';
import { StoreNotFoundError } from '../../format/storageErrors.ts';
import { damagedFile } from './sqliteDamage.ts';
import { openSqlite } from './sqliteWrite.ts';

interface OpenOptions {
  /** A file path, or `:memory:`. */
  path: string;
  mustExist?: boolean;
  readOnly?: boolean;
}

/** A store file opened: where it is, the connection, the copy read instead of it, and why it is read-only when it is. */
export interface OpenedStoreFile {
  path: string;
  db: Database.Database;
  copy?: string;
  readOnlyBecause?: string;
}

/** SQLite's answers to opening for writing a file (or folder) that this user may only read. */
const notWritable = (error: unknown): boolean => /^SQLITE_(READONLY|CANTOPEN|PERM)/.test(String((error as { code?: unknown }).code));

/**
 * Opens for reading a store file this user cannot write. SQLite reads a file in WAL mode beside its
 * shared-memory file, which it cannot make in a folder this user may not write: with no write-ahead
 * log there, the file alone is the whole store and nobody is writing it, so a copy of it is read.
 */
function openWithoutWriting(path: string, cannotOpen: (error: unknown) => Error): { db: Database.Database; copy?: string } {
  try {
    return { db: openSqlite(path, { readOnly: true }) };
  } catch (error) {
    if (!notWritable(error)) throw cannotOpen(error);
    if (existsSync(`${path}-wal`)) {
      throw new StorageError(
        `Could not read the SQLite store at ${path}: it has a write-ahead log beside it (${basename(path)}-wal, from a process that has it open or did not close it), ` +
          `which SQLite reads only with write access to the folder, and this user has none. Run this as a user who can write the folder, ` +
          `or copy ${basename(path)} and ${basename(path)}-wal together somewhere writable and name the copy with --store.`,
        { cause: error },
      );
    }
  }
  const copy = mkdtempSync(join(tmpdir(), 'statecraft-read-'));
  try {
    copyFileSync(path, join(copy, 'runs.db'));
    return { db: openSqlite(join(copy, 'runs.db'), { readOnly: true }), copy };
  } catch (error) {
    rmSync(copy, { recursive: true, force: true });
    throw cannotOpen(error);
  }
}

/**
 * Opens the store's file: created with its folder unless `mustExist` or `readOnly`; an existing file
 * this user cannot write is opened read-only (a copy, where SQLite could not read it in place).
 */
export function openStoreFile(options: OpenOptions): OpenedStoreFile {
  const path = options.path === ':memory:' ? ':memory:' : resolve(options.path);
  if (options.mustExist && path !== ':memory:' && !existsSync(path)) {
    throw new StoreNotFoundError(
      `No run store at ${path}: no run was recorded there. Run this from the folder where the agent ran, or name the store with --store (or STATECRAFT_STORE).`,
    );
  }
  if (options.readOnly && path === ':memory:') throw new StorageError('A SQLite store in memory cannot be opened read-only: it starts empty.');
  if (path !== ':memory:' && !options.readOnly) mkdirSync(dirname(path), { recursive: true });
  const cannotOpen = (error: unknown) => {
    const damaged = damagedFile(path, error);
    if (damaged !== error) return damaged as StorageError;
    return new StorageError(`Could not open the SQLite store at ${path}${options.readOnly ? ' read-only' : ''}: ${(error as Error).message}. Check the path and its permissions.`, { cause: error });
  };
  let db: Database.Database;
  let copy: string | undefined;
  let readOnly = options.readOnly === true;
  try {
    db = openSqlite(path, { readOnly });
  } catch (error) {
    // A store to read that this user may not write (another user's, a read-only mount, a copy
    // attached to a bug report): read it without writing, rather than not at all.
    if (readOnly || path === ':memory:' || !existsSync(path) || !notWritable(error)) throw cannotOpen(error);
    readOnly = true;
    ({ db, copy } = openWithoutWriting(path, cannotOpen));
  }
  const readOnlyBecause = readOnly ? (options.readOnly ? 'as asked' : 'this user cannot write the file or its folder') : undefined;
  return { path, db, ...(copy ? { copy } : {}), ...(readOnlyBecause ? { readOnlyBecause } : {}) };
}
