import { DEFAULT_SQLITE_PATH } from '../log/stores/sqlite/sqliteStore.ts';
import type { AgentMemoryStore } from './agentMemoryStore.ts';
import { InMemoryAgentMemory } from './InMemoryAgentMemory.ts';
import { PostgresAgentMemory } from './PostgresAgentMemory.ts';
import { SqliteAgentMemory } from './SqliteAgentMemory.ts';

/**
 * Opens the memory tables beside the run store a URL names, as `openStore` reads it: the same SQLite
 * file, the same PostgreSQL schema (`?schema=`), or `memory:` for this process only. Without a URL,
 * STATECRAFT_STORE, else SQLite at `.statecraft/runs.db`.
 * @example
 * const memory = openAgentMemory(process.env.STATECRAFT_STORE);
 */
export function openAgentMemory(url?: string): AgentMemoryStore {
  const target = url ?? process.env.STATECRAFT_STORE ?? `sqlite:${DEFAULT_SQLITE_PATH}`;
  if (target === 'memory:') return new InMemoryAgentMemory();
  if (/^postgres(ql)?:\/\//.test(target)) {
    const parsed = new URL(target);
    const schema = parsed.searchParams.get('schema') ?? undefined;
    parsed.searchParams.delete('schema');
    return new PostgresAgentMemory({ connectionString: parsed.toString(), ...(schema === undefined ? {} : { schema }) });
  }
  return new SqliteAgentMemory(target.startsWith('sqlite:') ? target.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '') : target);
}
