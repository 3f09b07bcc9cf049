import type { SqlExecutor } from './runLeases.ts';

/**
 * A cap on the live leases of a set of runs, across every worker of the store: runs of one queue
 * (`queue`), of the queues starting with `queuePrefix` (all versions of an agent), or of one tenant.
 * `key` names the cap in messages; `lock` names the lock that makes counting and taking one step, the
 * same for every limit whose runs overlap (all limits of one agent's versions share one).
 */
export interface LeaseLimit {
  key: string;
  lock: string;
  max: number;
  queue?: string;
  queuePrefix?: string;
  tenant?: string;
}

/** What the run being taken looks like to the limits: its queue and its tenant, as its lease row keeps them. */
export interface LimitedRun {
  runId: string;
  queue: string;
  priority: number;
  tenant: string | null;
  queuedAt: Date | null;
}

/** The limits `acquire` enforces, and what it does, in its transaction, with a run a limit refused. */
export interface LeaseLimits {
  for(run: LimitedRun): LeaseLimit[];
  refused(db: SqlExecutor, run: LimitedRun, limit: LeaseLimit): Promise<void>;
}

const matching = (limit: LeaseLimit): [string, string] =>
  limit.tenant !== undefined ? ['tenant = $1', limit.tenant] : limit.queue !== undefined ? ['queue = $1', limit.queue] : ['starts_with(queue, $1)', limit.queuePrefix ?? ''];

/** How many runs under `limit` are held by a live lease now, by the database's clock (`except` left out). */
export async function liveUnder(db: SqlExecutor, s: string, limit: LeaseLimit, except?: string): Promise<number> {
  const [where, value] = matching(limit);
  const { rows } = await db.executeSql(
    `SELECT count(*)::int AS n FROM ${s}.run_leases WHERE ${where} AND owner IS NOT NULL AND expires_at > now() AND run_id IS DISTINCT FROM $2`,
    [value, except ?? null],
  );
  return Number((rows[0] as { n: number }).n);
}

/**
 * The first of `limits` that has no room for one more run, or undefined when all have. The limits'
 * locks are taken first (in name order, so two takers never deadlock) and held to the end of the
 * transaction: two workers cannot both see room for the last run and both take it.
 */
export async function limitReached(db: SqlExecutor, s: string, runId: string, limits: readonly LeaseLimit[]): Promise<LeaseLimit | undefined> {
  const locks = [...new Set(limits.map((limit) => limit.lock))].sort();
  for (const lock of locks) await db.executeSql('SELECT pg_advisory_xact_lock(hashtext($1))', [`statecraft lease limit ${s} ${lock}`]);
  for (const limit of limits) if ((await liveUnder(db, s, limit, runId)) >= limit.max) return limit;
  return undefined;
}
