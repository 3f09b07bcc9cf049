import { UserError } from '../errors.ts';
import { MemoryStore } from './memoryStore.ts';
import { PostgresStore } from './postgresStore.ts';
import type { RunStore } from './runStore.ts';
import { DEFAULT_SQLITE_PATH, SqliteStore } from './sqliteStore.ts';

/**
 * Opens a store from a URL: `memory:`, `sqlite:<path>` or a file path, `postgres://…` (schema via `?schema=`);
 * without one, STATECRAFT_STORE, else SQLite at `.statecraft/runs.db`. With `mustExist`, a SQLite file
 * or PostgreSQL schema that does not exist is refused (StoreNotFoundError) instead of created.
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
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(target)) {
    throw new UserError(`Store URL "${target}" has an unknown scheme: use "memory:", "sqlite:<path>", a file path, or "postgres://…".`);
  }
  return new SqliteStore({ path: target, ...options });
}
