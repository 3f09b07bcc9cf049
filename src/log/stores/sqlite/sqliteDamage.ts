import { StorageError } from '../../../errors.ts';

/**
 * The error for what SQLite says of a file whose pages are damaged, or that is no database at all;
 * other errors are returned as they are.
 */
export function damagedFile(path: string, error: unknown): unknown {
  const code = String((error as { code?: unknown })?.code);
  const said = (error as Error).message;
  if (code.startsWith('SQLITE_NOTADB')) {
    return new StorageError(
      `The file at ${path} is not a SQLite run store (SQLite says: ${said}). Check that --store (or STATECRAFT_STORE) names the store's file; if it does, the file's first page is damaged: restore it from a backup.`,
      { cause: error },
    );
  }
  if (!code.startsWith('SQLITE_CORRUPT')) return error;
  return new StorageError(
    `The SQLite store at ${path} is damaged (SQLite says: ${said}), so its runs cannot be read or written. Restore the file from a backup, ` +
      `or save what can still be read with the sqlite3 tool (sqlite3 ${path} .recover | sqlite3 recovered.db) and list the runs it holds with: npx statecraft runs --store recovered.db (then check each with verify)`,
    { cause: error },
  );
}

/**
 * Makes every method of a SQLite store report damage in one place: what SQLite raises for a damaged
 * file becomes a StorageError naming the file and what to do, whichever read or write first meets it.
 */
export function reportDamage(store: { prototype: object }): void {
  const proto = store.prototype as Record<string, unknown>;
  for (const name of Object.getOwnPropertyNames(proto)) {
    const method = Object.getOwnPropertyDescriptor(proto, name)?.value as unknown;
    // The live channel is no read of the file, and is handed out at once.
    if (name === 'constructor' || name === 'liveChannel' || typeof method !== 'function') continue;
    Object.defineProperty(proto, name, {
      async value(this: { path: string }, ...args: unknown[]) {
        try {
          return await (method as (...args: unknown[]) => Promise<unknown>).apply(this, args);
        } catch (error) {
          throw damagedFile(this.path, error);
        }
      },
      writable: true,
      configurable: true,
    });
  }
}
