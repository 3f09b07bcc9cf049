import type Database from 'better-sqlite3';
import type { RateLimiterAbstract } from 'rate-limiter-flexible';
import { importPeer } from '../../importPeer.ts';
import { openSqlite } from '../../log/stores/sqlite/sqliteWrite.ts';
import { withAdvisoryLock } from '../../log/stores/postgres/advisoryLock.ts';
import { quotaOf, type Limits, type Quota } from './limitsConfig.ts';

/** A counter within one window: how much was used, and when the window ends. */
export interface WindowCount {
  used: number;
  /** Milliseconds until the window ends and the count starts again from 0. */
  msLeft: number;
  /** When the window ends (epoch milliseconds), from the same reading of the clock as `msLeft`. */
  endsAt: number;
}

/** Counters by key within fixed windows, shared by every instance on the same database. */
interface Counters {
  add(key: string, amount: number): Promise<WindowCount>;
  read(key: string): Promise<WindowCount>;
}

const NEEDS = 'The service\'s rate limits need';
const TABLE = 'service_limits';
// The counters never refuse by themselves: each tenant's limit is compared with the count they return.
const UNBOUNDED = 2 ** 30;
/** Model spend is counted in millionths of a dollar (the counters hold whole numbers up to 2^31, so at most $2,147 a day). */
export const USD_UNIT = 1_000_000;

function countOf(res: { consumedPoints: number; msBeforeNext: number } | null, now = Date.now()): WindowCount {
  const msLeft = res ? Math.max(0, res.msBeforeNext) : 0;
  return { used: res ? res.consumedPoints : 0, msLeft, endsAt: now + msLeft };
}

function counters(limiter: RateLimiterAbstract): Counters {
  return {
    add: async (key, amount) => countOf(await limiter.penalty(key, amount)),
    read: async (key) => countOf(await limiter.get(key)),
  };
}

type TenantSerial = <T>(tenantId: string, work: () => Promise<T>) => Promise<T>;

/** One at a time per tenant, within this process. */
function inProcessSerial(): TenantSerial {
  const tails = new Map<string, Promise<unknown>>();
  return (tenantId, work) => {
    const result = (tails.get(tenantId) ?? Promise.resolve()).then(work, work);
    const tail = result.catch(() => {});
    tails.set(tenantId, tail);
    void tail.then(() => tails.get(tenantId) === tail && tails.delete(tenantId));
    return result;
  };
}

/** One at a time per tenant across every instance on the database: a transaction-scoped advisory lock. */
function advisorySerial(pool: import('pg').Pool): TenantSerial {
  return (tenantId, work) => withAdvisoryLock(pool, `statecraft.run-start:${tenantId}`, () => work());
}

/**
 * The database as rate-limiter-flexible is given it: the library prepares its SQL and builds a
 * transaction on every call (2.6% of a busy service's time, for the failed-key check of every
 * request), so statements are prepared once here and one transaction wrapper serves every call.
 */
function preparedOnce(db: Database.Database): Database.Database {
  const statements = new Map<string, Database.Statement>();
  const inTransaction = db.transaction((work: () => unknown) => work());
  return new Proxy(db, {
    get(target, name) {
      if (name === 'prepare') {
        return (sql: string) => {
          let statement = statements.get(sql);
          if (!statement) statements.set(sql, (statement = target.prepare(sql)));
          return statement;
        };
      }
      if (name === 'transaction') return (work: (...args: unknown[]) => unknown) => (...args: unknown[]) => inTransaction(() => work(...args));
      const value: unknown = Reflect.get(target, name, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/** Milliseconds from `now` to the next midnight UTC, and the day's name. */
export function utcDay(now = Date.now()): { day: string; msLeft: number } {
  const date = new Date(now);
  const next = Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate() + 1);
  return { day: date.toISOString().slice(0, 10), msLeft: next - now };
}

/**
 * The service's counters, in the database of its store (a table `service_limits` beside its own):
 * requests per key and tenant, failed authentications per client, model tokens per minute and spend
 * per day per tenant. Every instance on one PostgreSQL store (or one SQLite file) counts together.
 * Built on rate-limiter-flexible (an optional peer, loaded by the service only).
 */
export class SharedLimits {
  private constructor(
    readonly limits: Limits,
    private readonly requests: Counters,
    private readonly failures: Counters,
    readonly failureWindowMs: number,
    private readonly tokens: Counters,
    private readonly spend: Counters,
    private readonly release: () => Promise<void>,
    private readonly serial: TenantSerial,
  ) {}

  /** Opens the counters in the database `url` names (as the service store reads it); creates their table when missing. */
  static async open(url: string, limits: Limits, authFailures: { windowMs: number }): Promise<SharedLimits> {
    const rlf = await importPeer(() => import('rate-limiter-flexible'), 'rate-limiter-flexible', NEEDS);
    const windows = { req: 60, auth: Math.ceil(authFailures.windowMs / 1000), tpm: 60, usd: 2 * 86_400 };
    let make: (prefix: string, seconds: number, first: boolean) => Promise<RateLimiterAbstract>;
    let release: () => Promise<void>;
    let serial: TenantSerial = inProcessSerial();
    if (/^postgres(ql)?:\/\//.test(url)) {
      const parsed = new URL(url);
      const schemaName = parsed.searchParams.get('schema') ?? 'statecraft';
      parsed.searchParams.delete('schema');
      const { default: pg } = await importPeer(() => import('pg'), 'pg', NEEDS);
      const pool = new pg.Pool({ connectionString: parsed.toString(), max: 4 });
      release = () => pool.end();
      serial = advisorySerial(pool);
      make = (keyPrefix, duration, first) =>
        new Promise((resolve, reject) => {
          const limiter: RateLimiterAbstract = new rlf.RateLimiterPostgres(
            { storeClient: pool, storeType: 'pool', schemaName, tableName: TABLE, tableCreated: !first, clearExpiredByTimeout: false, keyPrefix, points: UNBOUNDED, duration },
            // Called at once when the table exists already, before `limiter` is assigned.
            (error?: Error) => queueMicrotask(() => (error ? reject(error) : resolve(limiter))),
          );
        });
    } else {
      const db = openSqlite(url.startsWith('sqlite:') ? url.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '') : url);
      release = async () => void db.close();
      const client = preparedOnce(db);
      make = (keyPrefix, duration, first) =>
        new Promise((resolve, reject) => {
          const limiter: RateLimiterAbstract = new rlf.RateLimiterSQLite(
            { storeClient: client, storeType: 'better-sqlite3', tableName: TABLE, tableCreated: !first, clearExpiredByTimeout: false, keyPrefix, points: UNBOUNDED, duration },
            (error?: Error) => queueMicrotask(() => (error ? reject(error) : resolve(limiter))),
          );
        });
    }
    try {
      const requests = await make('req', windows.req, true);
      const [failures, tokens, spend] = await Promise.all([make('auth', windows.auth, false), make('tpm', windows.tpm, false), make('usd', windows.usd, false)]);
      return new SharedLimits(limits, counters(requests), counters(failures), authFailures.windowMs, counters(tokens), counters(spend), release, serial);
    } catch (error) {
      await release();
      throw error;
    }
  }

  /**
   * Runs `work` while no other start of a run of the tenant runs, in any instance on the same
   * PostgreSQL store (an advisory lock) or in this process (SQLite): a concurrent-runs check and the
   * run's creation inside it are one step, so two requests at once cannot both take the last slot.
   */
  startingRun<T>(tenantId: string, work: () => Promise<T>): Promise<T> {
    return this.serial(tenantId, work);
  }

  quota(tenantId: string): Quota {
    return quotaOf(this.limits, tenantId);
  }

  /** Counts one request of a key and its tenant; the counts after it. */
  async request(tenantId: string, keyId: string): Promise<{ tenant: WindowCount; key: WindowCount }> {
    const [tenant, key] = await Promise.all([this.requests.add(`t:${tenantId}`, 1), this.requests.add(`k:${keyId}`, 1)]);
    return { tenant, key };
  }

  requestsOf(tenantId: string): Promise<WindowCount> {
    return this.requests.read(`t:${tenantId}`);
  }

  /** Failed authentications of a client in its window. */
  failuresOf(client: string): Promise<WindowCount> {
    return this.failures.read(client);
  }

  failed(client: string): Promise<WindowCount> {
    return this.failures.add(client, 1);
  }

  tokensOf(tenantId: string): Promise<WindowCount> {
    return this.tokens.read(tenantId);
  }

  /** The tenant's spend today (UTC), in dollars. */
  async spendOf(tenantId: string, now = Date.now()): Promise<WindowCount> {
    const { day, msLeft } = utcDay(now);
    const { used } = await this.spend.read(`${tenantId}:${day}`);
    return { used: used / USD_UNIT, msLeft, endsAt: now + msLeft };
  }

  /** Adds what one model call used to its tenant's counters. */
  async modelUsed(tenantId: string, tokens: number, usd: number, now = Date.now()): Promise<void> {
    const cost = Math.round(usd * USD_UNIT);
    await Promise.all([tokens > 0 ? this.tokens.add(tenantId, Math.round(tokens)) : undefined, cost > 0 ? this.spend.add(`${tenantId}:${utcDay(now).day}`, cost) : undefined]);
  }

  close(): Promise<void> {
    return this.release();
  }
}
