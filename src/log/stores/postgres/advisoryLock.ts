/** What `withAdvisoryLock` needs of a pg.Pool. */
interface Connections {
  connect(): Promise<{ query(text: string, values?: unknown[]): Promise<unknown>; release(): void }>;
}

/**
 * Runs `work` in a transaction that holds a transaction-scoped advisory lock on `key`: one at a time
 * per key, across every process on the database. Commits when `work` resolves, rolls back when it throws.
 */
export async function withAdvisoryLock<T>(pool: Connections, key: string, work: (query: (text: string, values?: unknown[]) => Promise<unknown>) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [key]);
    const result = await work((text, values) => client.query(text, values));
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}
