import type PgBoss from 'pg-boss';
import { UserError } from '../errors.ts';
import { importPeer } from '../importPeer.ts';
import type { RunStore } from '../log/stores/runStore.ts';
import { PostgresStore } from '../log/stores/postgres/postgresStore.ts';
import type { Requeue, SqlExecutor } from '../log/stores/postgres/runLeases.ts';

/** What a ticket in the queue says: which run wants a worker. A worker never loads code a ticket names. */
export interface Ticket {
  runId: string;
}

/** A job taken from the queue: complete it once the run's lease is settled. */
export interface TakenTicket {
  jobId: string;
  queue: string;
  runId: string;
}

/**
 * The queue of an agent's runs, one per agent id and version: a worker takes tickets only from the
 * queues of the agents it was started with, so a ticket for an agent or version it lacks is left for
 * a worker that has it (the run stays `queued` until one starts).
 */
export const queueName = (agent: { name: string; version: string }): string => `statecraft/${agent.name}@${agent.version}`;

/** How the workers' side of a PostgreSQL store is reached: the store itself, checked to be PostgreSQL. */
export function postgresStoreFor(store: RunStore | string | undefined, command: 'worker' | 'submit' | 'queue'): PostgresStore {
  const how =
    `Give one with --store postgres://user@host:5432/db (?schema=name), or set STATECRAFT_STORE; in code, pass store: new PostgresStore({ connectionString }). ` +
    `On SQLite, run an agent in this process with: npx statecraft run <agent module>`;
  if (store instanceof PostgresStore) return store;
  if (typeof store === 'string' && /^postgres(ql)?:\/\//.test(store)) {
    const parsed = new URL(store);
    const schema = parsed.searchParams.get('schema') ?? undefined;
    parsed.searchParams.delete('schema');
    return new PostgresStore({ connectionString: parsed.toString(), ...(schema === undefined ? {} : { schema }) });
  }
  const found = store === undefined ? 'no store' : typeof store === 'string' ? `"${store}"` : `a ${store.constructor.name}`;
  throw new UserError(`statecraft ${command} needs a PostgreSQL store, which many processes can share; found ${found}. ${how}`);
}

/** Options of the pg-boss instance behind a queue. */
export interface RunQueueOptions {
  /** Whether this process runs pg-boss's maintenance (workers do: it expires tickets taken by a worker that died before it settled them). */
  supervise: boolean;
  /** A ticket taken and not settled within this long returns to the queue (default 30 s). */
  ticketExpireSeconds?: number;
}

/**
 * The workers' queue: pg-boss, in the schema `<store schema>_queue`, on the store's own connections.
 * A ticket only says that a run wants a worker; which worker runs it is settled by the run's lease,
 * taken in the transaction that completes the ticket. A duplicate ticket is therefore harmless, and a
 * ticket is sent in the transaction that creates, releases or reaps the run's lease, so none is lost.
 */
export class RunQueue {
  readonly #boss: PgBoss;
  readonly #expire: number;
  readonly #schema: string;
  readonly #db: SqlExecutor;
  readonly #known = new Set<string>();

  private constructor(boss: PgBoss, expire: number, schema: string, db: SqlExecutor) {
    this.#boss = boss;
    this.#expire = expire;
    this.#schema = schema;
    this.#db = db;
  }

  static async open(store: PostgresStore, options: RunQueueOptions): Promise<RunQueue> {
    const { default: PgBossClass } = await importPeer(() => import('pg-boss'), 'pg-boss', 'Workers and `statecraft submit` need');
    const schema = `${store.schema}_queue`;
    if (schema.length > 50) throw new UserError(`The store's schema name "${store.schema}" is too long for the workers' queue schema "${schema}" (50 characters at most): use a schema name of 44 characters or fewer.`);
    const expire = Math.max(1, Math.round(options.ticketExpireSeconds ?? 30));
    const boss = new PgBossClass({
      db: store.executor(),
      schema,
      supervise: options.supervise,
      schedule: false,
      migrate: true,
      maintenanceIntervalSeconds: expire,
    });
    boss.on('error', () => {});
    await boss.start();
    return new RunQueue(boss, expire, schema, store.executor());
  }

  /** Creates the queue if it does not exist. */
  async ensure(name: string): Promise<void> {
    if (this.#known.has(name)) return;
    await this.#boss.createQueue(name, { name, policy: 'standard', retryLimit: 1_000_000, retryDelay: 1, expireInSeconds: this.#expire });
    this.#known.add(name);
  }

  /**
   * Sends a run's ticket, in the transaction `db` when given; with `startAfterSeconds`, the ticket can be
   * taken only that long after now by the database's clock (pg-boss adds it to the server's now()).
   */
  async send(name: string, runId: string, priority: number, db?: SqlExecutor, startAfterSeconds?: number): Promise<string | null> {
    await this.ensure(name);
    const later = startAfterSeconds !== undefined && startAfterSeconds > 0 ? { startAfter: startAfterSeconds.toFixed(3) } : {};
    return this.#boss.send(name, { runId } satisfies Ticket, { priority, retryLimit: 1_000_000, retryDelay: 1, expireInSeconds: this.#expire, ...later, ...(db ? { db } : {}) });
  }

  /**
   * Sends the next ticket of a run that was queued before (released, reaped, decided on, refused by a
   * limit), with its priority and, when known, its first queue time as the ticket's own: pg-boss takes
   * tickets by priority, then by their creation time, so the run keeps its place among its priority.
   */
  async requeue(run: Requeue, db?: SqlExecutor, startAfterSeconds?: number): Promise<void> {
    const id = await this.send(run.queue, run.runId, run.priority, db, startAfterSeconds);
    if (!id || !run.queuedAt) return;
    // pg-boss sets created_on to now() and takes no other: the one column of its table written here.
    await (db ?? this.#db).executeSql(`UPDATE ${this.#schema}.job SET created_on = $3 WHERE name = $1 AND id = $2`, [run.queue, id, run.queuedAt]);
  }

  /** Takes up to `count` tickets, highest priority first, then oldest. */
  async take(name: string, count: number): Promise<TakenTicket[]> {
    if (count <= 0) return [];
    await this.ensure(name);
    const jobs = await this.#boss.fetch<Ticket>(name, { batchSize: count, priority: true });
    return jobs.map((job) => ({ jobId: job.id, queue: name, runId: job.data.runId }));
  }

  /** Marks a taken ticket done, in the transaction `db` when given. */
  async complete(ticket: TakenTicket, db?: SqlExecutor): Promise<void> {
    // pg-boss's complete takes (name, id, data, options): the output is empty.
    await this.#boss.complete(ticket.queue, ticket.jobId, {}, db ? { db } : {});
  }

  /** Puts a taken ticket back, to be taken again after the queue's retry delay (a second). */
  async retry(ticket: TakenTicket): Promise<void> {
    await this.#boss.fail(ticket.queue, ticket.jobId, { reason: 'taken back: the worker still held an old slot of the run' });
  }

  /** Tickets waiting in a queue (created or retrying, not yet taken). */
  size(name: string): Promise<number> {
    return this.#boss.getQueueSize(name);
  }

  async close(): Promise<void> {
    await this.#boss.stop({ graceful: false, close: false, wait: true });
  }
}
