import { UserError } from '../../errors.ts';
import { DEFAULT_SQLITE_PATH } from '../../log/stores/sqlite/sqliteStore.ts';
import { PostgresServiceStore } from './PostgresServiceStore.ts';
import type { ServiceStore } from './ServiceStore.ts';
import { SqliteServiceStore } from './SqliteServiceStore.ts';

/**
 * The service's tables beside the run store a URL names (as `openStore` reads it): the same SQLite
 * file, or the same PostgreSQL schema. `memory:` is refused: keys kept in memory would be lost on restart.
 */
export function openServiceStore(url: string = process.env.STATECRAFT_STORE ?? `sqlite:${DEFAULT_SQLITE_PATH}`): ServiceStore {
  if (/^postgres(ql)?:\/\//.test(url)) {
    const parsed = new URL(url);
    const schema = parsed.searchParams.get('schema') ?? undefined;
    parsed.searchParams.delete('schema');
    return new PostgresServiceStore({ connectionString: parsed.toString(), ...(schema === undefined ? {} : { schema }) });
  }
  if (url === 'memory:') {
    throw new UserError('The service cannot keep its API keys and tenants in a memory: store (they would be lost when it stops): use a SQLite file (sqlite:<path>) or postgres://….');
  }
  return new SqliteServiceStore(url.startsWith('sqlite:') ? url.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '') : url);
}
