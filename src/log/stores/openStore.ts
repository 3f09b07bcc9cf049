import { UserError } from '../../errors.ts';
import { MemoryStore } from './memoryStore.ts';
import { PostgresStore } from './postgres/postgresStore.ts';
import type { RunStore } from './runStore.ts';
import { DEFAULT_SQLITE_PATH, SqliteStore } from './sqlite/sqliteStore.ts';

/**
 * Opens a store from a URL: `memory:`, `sqlite:<path>` or a file path, `postgres://…` (schema via `?schema=`);
 * without one, STATECRAFT_STORE, else SQLite at `.statecraft/runs.db`. With `mustExist`, a SQLite file
 * or PostgreSQL schema that does not exist is refused (StoreNotFoundError) instead of created. A name that
 * reads as another scheme (`mysql:foo`) is refused (UserError); write such a file as `./mysql:foo`.
 * @example
 * const store = openStore(process.env.STATECRAFT_STORE);
 */
export function openStore(url?: string, options: { mustExist?: boolean } = {}): RunStore {
  const target = url ?? process.env.STATECRAFT_STORE ?? `sqlite:${DEFAULT_SQLITE_PATH}`;
  if (target === 'memory:') return new MemoryStore();
  if (/^postgres(ql)?:\/\//.test(target)) {
    const parsed = new URL(target);
    const schema = parsed.searchParams.get('schema') ?? undefined;
    parsed.searchParams.delete('schema');
    return new PostgresStore({ connectionString: parsed.toString(), ...(schema === undefined ? {} : { schema }), ...options });
  }
  if (target.startsWith('sqlite:')) {
    const path = target.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    if (path === '') throw new UserError(`Store URL "${target}" names no SQLite file: use "sqlite:<path>", for example "sqlite:.statecraft/runs.db".`);
    return new SqliteStore({ path, ...options });
  }
  // `mysql:foo` is a mistyped store, not a file name: only a path that cannot be read as `<scheme>:` is a file.
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(target)?.[1];
  if (scheme !== undefined && (/^[a-z]+$/i.test(scheme) || target.startsWith(`${scheme}://`))) {
    const known = ['memory', 'sqlite', 'postgres', 'postgresql'].includes(scheme.toLowerCase());
    throw new UserError(
      `Store URL "${target}" ${known ? `is not a valid "${scheme}:" URL` : `has an unknown scheme "${scheme}:"`}: use "memory:", "sqlite:<path>", a file path, ` +
        `or "postgres://…" ("postgresql://…"). For a SQLite file whose name has a colon, write "sqlite:${target}" or "./${target}".`,
    );
  }
  return new SqliteStore({ path: target, ...options });
}
