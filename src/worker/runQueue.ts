import type PgBoss from 'pg-boss';
import { UserError } from '../errors.ts';
import { importPeer } from '../importPeer.ts';
import type { RunStore } from '../log/stores/runStore.ts';
import { PostgresStore } from '../log/stores/postgres/postgresStore.ts';
import type { SqlExecutor } from '../log/stores/postgres/runLeases.ts';

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
export function postgresStoreFor(store: RunStore | string | undefined, command: 'worker' | 'submit'): PostgresStore {
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
  readonly #known = new Set<string>();

  private constructor(boss: PgBoss, expire: number) {
    this.#boss = boss;
    this.#expire = expire;
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
    return new RunQueue(boss, expire);
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
  async send(name: string, runId: string, priority: number, db?: SqlExecutor, startAfterSeconds?: number): Promise<void> {
    await this.ensure(name);
    const later = startAfterSeconds !== undefined && startAfterSeconds > 0 ? { startAfter: startAfterSeconds.toFixed(3) } : {};
    await this.#boss.send(name, { runId } satisfies Ticket, { priority, retryLimit: 1_000_000, retryDelay: 1, expireInSeconds: this.#expire, ...later, ...(db ? { db } : {}) });
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
