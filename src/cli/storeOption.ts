import { openStore } from '../log/openStore.ts';
import type { RunStore } from '../log/runStore.ts';

export const storeHelp = `  --store URL        where runs are recorded: a SQLite file (default .statecraft/runs.db, or
                     STATECRAFT_STORE), sqlite:<path>, postgres://… (?schema=name), or memory:`;

export const storeOptions = { store: { type: 'string' } } as const;

/** Open the store named by --store or STATECRAFT_STORE, and close it after `use`. */
export async function withStore<T>(values: Record<string, unknown>, use: (store: RunStore) => Promise<T>): Promise<T> {
  const store = openStore(values.store as string | undefined);
  try {
    return await use(store);
  } finally {
    await store.close();
  }
}
