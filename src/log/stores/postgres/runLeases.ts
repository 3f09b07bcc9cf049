import { StorageError } from '../../../errors.ts';
import { limitReached, liveUnder, type LeaseLimit, type LeaseLimits } from './leaseLimits.ts';

/** Runs one SQL statement: the shape pg-boss takes as its `db`, so that its jobs join our transactions. */
export interface SqlExecutor {
  executeSql(text: string, values?: unknown[]): Promise<{ rows: any[] }>;
}

/** A lease a worker holds a run by: `epoch` is its fencing token, `expiresAt` is by the database's clock. */
export interface Lease {
  runId: string;
  owner: string;
  epoch: number;
  expiresAt: Date;
  /** The queue the run's tickets go to (one per agent id and version), and their priority. */
  queue: string;
  priority: number;
}

/**
 * Where a run goes back to when its lease is given up or lost: its queue and priority, and when it was
 * first queued (by the database's clock; null for runs submitted before it was kept), so that its next
 * ticket keeps the run's place among the runs of its priority.
 */
export interface Requeue {
  runId: string;
  queue: string;
  priority: number;
  queuedAt?: Date | null;
}

const requeueOf = (runId: string, row: { queue: string; priority: number; queued_at: Date | null }): Requeue => ({ runId, queue: row.queue, priority: row.priority, queuedAt: row.queued_at });

type Transaction = <T>(work: (db: SqlExecutor) => Promise<T>) => Promise<T>;

const ttl = (param: string) => `now() + make_interval(secs => ${param}::double precision / 1000)`;

/**
 * The leases of one PostgreSQL store's runs (table `run_leases`, beside the runs). A run submitted to
 * the workers' queue has a row from its creation on; a worker that takes it sets itself as owner and
 * raises the epoch by one, in one statement, only when no one holds it (no owner, or the owner's lease
 * expired by the database's clock). Appends name the epoch and are refused once it is not the current
 * live one (see the store's append_records), so a worker that lost a run cannot write to it again.
 */
export class RunLeases {
  readonly #s: string;
  readonly #transaction: Transaction;
  readonly #where: string;

  /** Made by `PostgresStore.leases()`; `s` is the store's quoted schema. */
  constructor(s: string, transaction: Transaction, where: string) {
    this.#s = s;
    this.#transaction = transaction;
    this.#where = where;
  }

  async #run<T>(what: string, work: (db: SqlExecutor) => Promise<T>): Promise<T> {
    try {
      return await this.#transaction(work);
    } catch (error) {
      if (error instanceof StorageError) throw error;
      throw new StorageError(`PostgreSQL at ${this.#where} failed to ${what}: ${(error as Error).message}. Check that the server runs and the connection string.`, { cause: error });
    }
  }

  /** Gives a run created in the transaction `db` its lease row (no owner): it may now be taken from `queue`. `tenant` is counted by per-tenant limits. */
  async register(db: SqlExecutor, runId: string, queue: string, priority: number, tenant?: string): Promise<void> {
    await db.executeSql(`INSERT INTO ${this.#s}.run_leases (run_id, queue, priority, tenant, queued_at) VALUES ($1, $2, $3, $4, now())`, [runId, queue, priority, tenant ?? null]);
  }

  /**
   * Takes the run for `owner` for `ttlMs`, or returns undefined when another owner holds a live lease
   * on it (or it has no lease row: it was never submitted). `alsoInTransaction` runs in the same
   * transaction whether or not the run was taken (the queue's ticket is completed with it). With
   * `limits`, a run that one of them has no room for is not taken either: `limits.refused` runs in the
   * transaction instead (it sends the run's ticket for a little later).
   */
  acquire(runId: string, owner: string, ttlMs: number, alsoInTransaction?: (db: SqlExecutor) => Promise<void>, limits?: LeaseLimits): Promise<Lease | undefined> {
    return this.#run(`take the lease of run ${runId}`, async (db) => {
      if (limits) {
        const { rows: free } = await db.executeSql(
          `SELECT queue, priority, tenant, queued_at FROM ${this.#s}.run_leases WHERE run_id = $1 AND (owner IS NULL OR expires_at <= now()) FOR UPDATE`,
          [runId],
        );
        const row = free[0] as { queue: string; priority: number; tenant: string | null; queued_at: Date | null } | undefined;
        const run = row && { runId, queue: row.queue, priority: row.priority, tenant: row.tenant, queuedAt: row.queued_at };
        const reached = run && (await limitReached(db, this.#s, runId, limits.for(run)));
        if (!run || reached) {
          if (run && reached) await limits.refused(db, run, reached);
          await alsoInTransaction?.(db);
          return undefined;
        }
      }
      const { rows } = await db.executeSql(
        `UPDATE ${this.#s}.run_leases SET owner = $2, epoch = epoch + 1, expires_at = ${ttl('$3')}
         WHERE run_id = $1 AND (owner IS NULL OR expires_at <= now())
         RETURNING epoch, expires_at, queue, priority`,
        [runId, owner, ttlMs],
      );
      await alsoInTransaction?.(db);
      const row = rows[0] as { epoch: string; expires_at: Date; queue: string; priority: number } | undefined;
      return row && { runId, owner, epoch: Number(row.epoch), expiresAt: row.expires_at, queue: row.queue, priority: row.priority };
    });
  }

  /** Extends the leases `owner` still holds (same epoch, not expired) by `ttlMs`; returns the run ids renewed. */
  renew(owner: string, held: readonly { runId: string; epoch: number }[], ttlMs: number): Promise<Set<string>> {
    if (held.length === 0) return Promise.resolve(new Set());
    return this.#run('renew leases', async (db) => {
      // Rows are locked in run id order, as every statement that locks several leases does: two never deadlock.
      const { rows } = await db.executeSql(
        `WITH held AS (
           SELECT l.run_id FROM ${this.#s}.run_leases l JOIN unnest($2::text[], $3::bigint[]) AS t(run_id, epoch) ON l.run_id = t.run_id AND l.epoch = t.epoch
           WHERE l.owner = $1 AND l.expires_at > now() ORDER BY l.run_id FOR UPDATE OF l)
         UPDATE ${this.#s}.run_leases l SET expires_at = ${ttl('$4')} FROM held WHERE l.run_id = held.run_id
         RETURNING l.run_id`,
        [owner, held.map((lease) => lease.runId), held.map((lease) => lease.epoch), ttlMs],
      );
      return new Set(rows.map((row: { run_id: string }) => row.run_id));
    });
  }

  /** How many runs under `limit` hold a live lease now, across every worker (read without a lock: a hint, not a promise). */
  live(limit: LeaseLimit): Promise<number> {
    return this.#run(`count the live leases under limit ${limit.key}`, (db) => liveUnder(db, this.#s, limit));
  }

  /**
   * Gives up a lease `owner` holds with `epoch` (still its own, expired or not); with `requeue`, the
   * run's next ticket is sent in the same transaction, so that another worker continues it at once.
   * Returns false when the lease was not this owner's any more.
   */
  release(lease: Pick<Lease, 'runId' | 'owner' | 'epoch'>, requeue?: (db: SqlExecutor, run: Requeue) => Promise<void>): Promise<boolean> {
    return this.#run(`release the lease of run ${lease.runId}`, async (db) => {
      const { rows } = await db.executeSql(
        `UPDATE ${this.#s}.run_leases SET owner = NULL, expires_at = now() WHERE run_id = $1 AND owner = $2 AND epoch = $3 RETURNING queue, priority, queued_at`,
        [lease.runId, lease.owner, lease.epoch],
      );
      const row = rows[0] as { queue: string; priority: number; queued_at: Date | null } | undefined;
      if (row && requeue) await requeue(db, requeueOf(lease.runId, row));
      return row !== undefined;
    });
  }

  /**
   * Clears up to `limit` leases that expired by the database's clock while held (their worker died or
   * froze) and sends each run's next ticket in the same transaction (`requeue`): a run is never left
   * with neither a live lease nor a ticket. Any number of workers may reap at once; each expired lease
   * is cleared by one of them.
   */
  reap(limit: number, requeue: (db: SqlExecutor, runs: Requeue[]) => Promise<void>): Promise<Requeue[]> {
    return this.#run('reap expired leases', async (db) => {
      const { rows } = await db.executeSql(
        `WITH expired AS (
           SELECT run_id FROM ${this.#s}.run_leases WHERE owner IS NOT NULL AND expires_at <= now() ORDER BY run_id LIMIT $1 FOR UPDATE SKIP LOCKED)
         UPDATE ${this.#s}.run_leases l SET owner = NULL FROM expired WHERE l.run_id = expired.run_id
         RETURNING l.run_id, l.queue, l.priority, l.queued_at`,
        [limit],
      );
      const runs = rows.map((row: { run_id: string; queue: string; priority: number; queued_at: Date | null }) => requeueOf(row.run_id, row));
      if (runs.length) await requeue(db, runs);
      return runs;
    });
  }

  /**
   * Records a decision on a run submitted to the workers, and sends its ticket (`requeue`) in the same
   * transaction, under the lease row's lock: a worker letting go of the run at the same moment either
   * sees the decision (and requeues the run itself) or lets go before it, and the ticket finds the run
   * free. Returns false when the run has no lease row (it is not a workers' run).
   */
  decide(runId: string, decision: unknown, requeue: (db: SqlExecutor, run: Requeue) => Promise<void>): Promise<boolean> {
    return this.#run(`record a decision on run ${runId}`, async (db) => {
      const { rows } = await db.executeSql(`SELECT queue, priority, queued_at FROM ${this.#s}.run_leases WHERE run_id = $1 FOR UPDATE`, [runId]);
      const row = rows[0] as { queue: string; priority: number; queued_at: Date | null } | undefined;
      if (!row) return false;
      await db.executeSql(`INSERT INTO ${this.#s}.run_decisions (run_id, decision) VALUES ($1, $2)`, [runId, JSON.stringify(decision)]);
      await requeue(db, requeueOf(runId, row));
      return true;
    });
  }

  /** Decisions recorded on the run and not yet settled by a worker, oldest first. */
  decisions(runId: string): Promise<{ id: number; decision: unknown }[]> {
    return this.#run(`read the decisions on run ${runId}`, async (db) => {
      const { rows } = await db.executeSql(`SELECT id, decision FROM ${this.#s}.run_decisions WHERE run_id = $1 ORDER BY id`, [runId]);
      return rows.map((row: { id: string; decision: unknown }) => ({ id: Number(row.id), decision: row.decision }));
    });
  }

  /**
   * Gives up the lease of a run that now waits for people (or ended): the decisions `settled` (applied
   * and recorded in the run's log under this lease) are removed; if others arrived meanwhile, the run's
   * ticket is sent at once; otherwise, with `wakeAt` (epoch ms: the next approval or run deadline), a
   * ticket is scheduled for then, by the database's clock (at least a second from now if it has passed
   * there already). Returns false, changing nothing, when the lease was not this owner's any more.
   */
  releaseWaiting(
    lease: Pick<Lease, 'runId' | 'owner' | 'epoch'>,
    settled: readonly number[],
    wakeAt: number | undefined,
    requeue: (db: SqlExecutor, run: Requeue, startAfterSeconds?: number) => Promise<void>,
  ): Promise<boolean> {
    return this.#run(`release the lease of run ${lease.runId}`, async (db) => {
      const { rows } = await db.executeSql(
        `UPDATE ${this.#s}.run_leases SET owner = NULL, expires_at = now() WHERE run_id = $1 AND owner = $2 AND epoch = $3 RETURNING queue, priority, queued_at`,
        [lease.runId, lease.owner, lease.epoch],
      );
      const row = rows[0] as { queue: string; priority: number; queued_at: Date | null } | undefined;
      if (!row) return false;
      const run = requeueOf(lease.runId, row);
      if (settled.length) await db.executeSql(`DELETE FROM ${this.#s}.run_decisions WHERE run_id = $1 AND id = ANY($2::bigint[])`, [lease.runId, settled]);
      const pending = await db.executeSql(`SELECT 1 FROM ${this.#s}.run_decisions WHERE run_id = $1 LIMIT 1`, [lease.runId]);
      if (pending.rows.length) await requeue(db, run);
      else if (wakeAt !== undefined) {
        const { rows: left } = await db.executeSql(`SELECT extract(epoch FROM to_timestamp($1::double precision / 1000) - now())::double precision AS secs`, [wakeAt]);
        const secs = Number((left[0] as { secs: number }).secs);
        await requeue(db, run, secs > 0 ? secs : 1);
      }
      return true;
    });
  }

  /** Whether the epoch time `at` (ms) has passed by the database's clock. */
  passed(at: number): Promise<boolean> {
    return this.#run('read the database clock', async (db) => {
      const { rows } = await db.executeSql(`SELECT to_timestamp($1::double precision / 1000) <= now() AS passed`, [at]);
      return (rows[0] as { passed: boolean }).passed;
    });
  }

  /** The run's lease as stored now (undefined: the run was never submitted); `live` by the database's clock. */
  state(runId: string): Promise<{ owner: string | null; epoch: number; live: boolean; queue: string; priority: number } | undefined> {
    return this.#run(`read the lease of run ${runId}`, async (db) => {
      const { rows } = await db.executeSql(
        `SELECT owner, epoch, owner IS NOT NULL AND expires_at > now() AS live, queue, priority FROM ${this.#s}.run_leases WHERE run_id = $1`,
        [runId],
      );
      const row = rows[0] as { owner: string | null; epoch: string; live: boolean; queue: string; priority: number } | undefined;
      return row && { ...row, epoch: Number(row.epoch) };
    });
  }
}
