import type { RateLimiterAbstract } from 'rate-limiter-flexible';
import { importPeer } from '../importPeer.ts';
import type { PostgresStore } from '../log/stores/postgres/postgresStore.ts';

/** A count within the current one-minute window, and the time left in that window. */
export interface WindowUse {
  used: number;
  msLeft: number;
}

/** Where the limits of model endpoints are kept: per-minute counters, and the blocks that 429 answers set. */
export interface LimitBackend {
  /** Adds `amount` (negative to give back) to the endpoint's count of `kind` in its current window; the count after it. */
  add(kind: 'rpm' | 'tpm', endpoint: string, amount: number): Promise<WindowUse>;
  /** Milliseconds until the endpoint's block ends, 0 when it is not blocked, by the backend's clock. */
  blockedMs(endpoint: string): Promise<number>;
  /** Blocks the endpoint for `ms` from now, or for the next step of the default back-off; the milliseconds it is blocked for now. */
  block(endpoint: string, ms: number | undefined): Promise<number>;
  close(): Promise<void>;
}

const NEEDS = 'Model rate limits need';
const COUNTERS = 'model_limits';
const BLOCKS = 'model_endpoint_blocks';
// The counters never refuse by themselves: each endpoint's limit is compared with the count they return.
const UNBOUNDED = 2 ** 30;
/** The default back-off after a 429 that named no wait: 1 s, doubling for each 429 within a minute of the last block's end, at most 60 s. */
export const BACKOFF = { baseMs: 1_000, maxMs: 60_000, memoryMs: 60_000 } as const;

interface Block {
  until: number;
  strikes: number;
}

/** The block after a 429 at `now`: as asked, or one back-off step longer than the last; a 429 of a call sent before the block was known adds no step. */
export function nextBlock(previous: Block | undefined, now: number, requested: number | undefined): Block {
  const active = previous !== undefined && previous.until > now;
  const recent = previous !== undefined && previous.until > now - BACKOFF.memoryMs;
  const strikes = active ? previous.strikes : recent ? previous.strikes + 1 : 1;
  const ms = requested ?? Math.min(BACKOFF.maxMs, BACKOFF.baseMs * 2 ** (strikes - 1));
  return { until: Math.max(previous?.until ?? 0, now + ms), strikes };
}

type Rlf = typeof import('rate-limiter-flexible');

function backendOver(make: (prefix: 'rpm' | 'tpm') => Promise<RateLimiterAbstract>): (kind: 'rpm' | 'tpm') => Promise<RateLimiterAbstract> {
  const made = new Map<string, Promise<RateLimiterAbstract>>();
  return (kind) => {
    let limiter = made.get(kind);
    if (!limiter) made.set(kind, (limiter = make(kind)));
    return limiter;
  };
}

async function addTo(limiter: RateLimiterAbstract, endpoint: string, amount: number): Promise<WindowUse> {
  const res = amount >= 0 ? await limiter.penalty(endpoint, amount) : await limiter.reward(endpoint, -amount);
  return { used: res.consumedPoints, msLeft: Math.max(0, res.msBeforeNext) };
}

/** Counters and blocks in this process only. */
export async function memoryBackend(): Promise<LimitBackend> {
  const rlf: Rlf = await importPeer(() => import('rate-limiter-flexible'), 'rate-limiter-flexible', NEEDS);
  const limiter = backendOver(async (keyPrefix) => new rlf.RateLimiterMemory({ keyPrefix, points: UNBOUNDED, duration: 60 }));
  const blocks = new Map<string, Block>();
  return {
    add: async (kind, endpoint, amount) => addTo(await limiter(kind), endpoint, amount),
    blockedMs: async (endpoint) => Math.max(0, (blocks.get(endpoint)?.until ?? 0) - Date.now()),
    block: async (endpoint, ms) => {
      const now = Date.now();
      const next = nextBlock(blocks.get(endpoint), now, ms);
      blocks.set(endpoint, next);
      return next.until - now;
    },
    close: async () => {},
  };
}

/** Counters and blocks in a SQLite file, shared by the processes that open it; blocks are timed by SQLite's clock. */
export async function sqliteBackend(path: string): Promise<LimitBackend> {
  const rlf: Rlf = await importPeer(() => import('rate-limiter-flexible'), 'rate-limiter-flexible', NEEDS);
  const { openSqlite } = await import('../log/stores/sqlite/sqliteWrite.ts');
  const db = openSqlite(path);
  db.exec(`CREATE TABLE IF NOT EXISTS ${BLOCKS} (endpoint TEXT PRIMARY KEY, until REAL NOT NULL, strikes INTEGER NOT NULL)`);
  const clock = db.prepare<[], { now: number }>(`SELECT (julianday('now') - 2440587.5) * 86400000.0 AS now`);
  const read = db.prepare<[string], Block>(`SELECT until, strikes FROM ${BLOCKS} WHERE endpoint = ?`);
  const write = db.prepare(`INSERT INTO ${BLOCKS} (endpoint, until, strikes) VALUES (?, ?, ?) ON CONFLICT (endpoint) DO UPDATE SET until = excluded.until, strikes = excluded.strikes`);
  const block = db.transaction((endpoint: string, ms: number | undefined) => {
    const { now } = clock.get()!;
    const next = nextBlock(read.get(endpoint), now, ms);
    write.run(endpoint, next.until, next.strikes);
    return next.until - now;
  });
  let first: Promise<unknown> | undefined;
  const limiter = backendOver(async (keyPrefix) => {
    // The first limiter creates the table; the other waits for it.
    const creating = first === undefined;
    if (!creating) await first;
    const made = new Promise<RateLimiterAbstract>((resolve, reject) => {
      const limiter: RateLimiterAbstract = new rlf.RateLimiterSQLite(
        { storeClient: db, storeType: 'better-sqlite3', tableName: COUNTERS, tableCreated: !creating, clearExpiredByTimeout: false, keyPrefix, points: UNBOUNDED, duration: 60 },
        // Called at once when the table exists already, before `limiter` is assigned.
        (error?: Error) => queueMicrotask(() => (error ? reject(error) : resolve(limiter))),
      );
    });
    if (creating) first = made.catch(() => {});
    return made;
  });
  return {
    add: async (kind, endpoint, amount) => addTo(await limiter(kind), endpoint, amount),
    blockedMs: async (endpoint) => {
      const found = read.get(endpoint);
      return found ? Math.max(0, found.until - clock.get()!.now) : 0;
    },
    // IMMEDIATE: two processes that see a 429 at once take their turns, each reading the other's block.
    block: async (endpoint, ms) => block.immediate(endpoint, ms),
    close: async () => void db.close(),
  };
}

const quoted = (name: string) => `"${name.replace(/"/g, '""')}"`;
const UNIQUE_VIOLATION = '23505';
const DUPLICATE_TABLE = '42P07';

/**
 * Counters and blocks in tables of a PostgreSQL store's schema, on the store's own connections. A
 * block's end is set and read by the database's clock (now() + interval), so hosts whose clocks
 * disagree still wait for the same moment. The per-minute windows are rate-limiter-flexible's, whose
 * ends are set by the clock of the host that opens each window: a skew between hosts shifts a window's
 * end by as much, never lets two windows overlap.
 */
export async function postgresBackend(store: PostgresStore): Promise<LimitBackend> {
  const rlf: Rlf = await importPeer(() => import('rate-limiter-flexible'), 'rate-limiter-flexible', NEEDS);
  const sql = store.executor();
  const blocks = `${quoted(store.schema)}.${BLOCKS}`;
  try {
    await sql.executeSql(`CREATE TABLE IF NOT EXISTS ${blocks} (endpoint text PRIMARY KEY, until timestamptz NOT NULL, strikes integer NOT NULL)`);
  } catch (error) {
    // Two processes creating it at once: the other one made it.
    const code = (error as { code?: unknown }).code;
    if (code !== UNIQUE_VIOLATION && code !== DUPLICATE_TABLE) throw error;
  }
  // rate-limiter-flexible sends `{ text, values }` to what it takes for a pool: here, the store's executor.
  const client = { query: (q: { text: string; values?: unknown[] }) => sql.executeSql(q.text, q.values) };
  const created = new Promise<void>((resolve, reject) => {
    new rlf.RateLimiterPostgres(
      { storeClient: client, storeType: 'pool', schemaName: store.schema, tableName: COUNTERS, tableCreated: false, clearExpiredByTimeout: false, keyPrefix: 'create', points: UNBOUNDED, duration: 60 },
      (error?: Error) => (error ? reject(error) : resolve()),
    );
  });
  await created;
  const limiter = backendOver(
    async (keyPrefix) =>
      new rlf.RateLimiterPostgres({ storeClient: client, storeType: 'pool', schemaName: store.schema, tableName: COUNTERS, tableCreated: true, clearExpiredByTimeout: false, keyPrefix, points: UNBOUNDED, duration: 60 }),
  );
  const later = (strikes: string) => `now() + make_interval(secs => COALESCE($2::float8, LEAST(${BACKOFF.maxMs}, ${BACKOFF.baseMs} * power(2, ${strikes} - 1))) / 1000)`;
  // The same rule as nextBlock, in one statement: `b` is the row before it.
  const strikes = `CASE WHEN b.until > now() THEN b.strikes WHEN b.until > now() - interval '${BACKOFF.memoryMs / 1000} seconds' THEN b.strikes + 1 ELSE 1 END`;
  const msLeft = `GREATEST(0, extract(epoch FROM until - now()) * 1000)::float8 AS ms_left`;
  return {
    add: async (kind, endpoint, amount) => addTo(await limiter(kind), endpoint, amount),
    blockedMs: async (endpoint) => {
      const { rows } = await sql.executeSql(`SELECT ${msLeft} FROM ${blocks} WHERE endpoint = $1 AND until > now()`, [endpoint]);
      return rows[0] ? Number(rows[0].ms_left) : 0;
    },
    block: async (endpoint, ms) => {
      const { rows } = await sql.executeSql(
        `INSERT INTO ${blocks} AS b (endpoint, until, strikes) VALUES ($1, ${later('1')}, 1)
         ON CONFLICT (endpoint) DO UPDATE SET strikes = ${strikes}, until = GREATEST(b.until, ${later(strikes)})
         RETURNING ${msLeft}`,
        [endpoint, ms ?? null],
      );
      return Number(rows[0]?.ms_left ?? 0);
    },
    close: async () => {},
  };
}
