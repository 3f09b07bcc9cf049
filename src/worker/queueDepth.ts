import { ENDED_STATUSES } from '../log/format/record.ts';
import type { RunStore } from '../log/stores/runStore.ts';
import type { SqlExecutor } from '../log/stores/postgres/runLeases.ts';
import { postgresStoreFor } from './runQueue.ts';

/** The runs of one queue (one agent id and version) as `queueDepth` counts them now, by the database's clock. */
export interface QueueDepth {
  /** The queue's name, `statecraft/<agent>@<version>`. */
  queue: string;
  agent: string;
  version: string;
  /** Runs that want a worker and have none: submitted and not started, or let go by a worker that stopped or died. */
  queued: number;
  /** The queued runs by priority, highest first (the order workers take them in; within a priority, the oldest first). */
  byPriority: { priority: number; queued: number }[];
  /** Runs a worker holds by a live lease. */
  running: number;
  /** Runs waiting for a decision or a timer, which hold no worker. */
  waiting: number;
  /** How long ago the oldest queued run was first queued (ms), or null when none is queued. */
  oldestQueuedMs: number | null;
  /** The queue's tickets in pg-boss: `ready` to be taken, `scheduled` for later (timers, runs a limit deferred), `taken` by a worker and not yet settled. */
  tickets: { ready: number; scheduled: number; taken: number };
}

const PREFIX = 'statecraft/';
const ended = ENDED_STATUSES.map((status) => `'${status}'`).join(', ');

/** One row per queue and priority, over the workers' runs that have not ended or still hold a lease. */
const runsSql = (s: string) => `
  SELECT l.queue, l.priority,
    count(*) FILTER (WHERE l.live)::int AS running,
    count(*) FILTER (WHERE NOT l.live AND r.status = 'waiting')::int AS waiting,
    count(*) FILTER (WHERE NOT l.live AND r.status <> 'waiting')::int AS queued,
    (extract(epoch FROM now() - min(coalesce(l.queued_at, r.created_at)) FILTER (WHERE NOT l.live AND r.status <> 'waiting')) * 1000)::double precision AS oldest_ms
  FROM (SELECT run_id, queue, priority, queued_at, owner IS NOT NULL AND expires_at > now() AS live FROM ${s}.run_leases) l
  JOIN ${s}.runs r ON r.run_id = l.run_id
  WHERE l.live OR r.status NOT IN (${ended})
  GROUP BY l.queue, l.priority`;

const ticketsSql = (q: string) => `
  SELECT name,
    count(*) FILTER (WHERE state < 'active' AND start_after < now())::int AS ready,
    count(*) FILTER (WHERE state < 'active' AND start_after >= now())::int AS scheduled,
    count(*) FILTER (WHERE state = 'active')::int AS taken
  FROM ${q}.job WHERE state <= 'active' AND starts_with(name, '${PREFIX}') GROUP BY name
  UNION ALL SELECT name, 0, 0, 0 FROM ${q}.queue WHERE starts_with(name, '${PREFIX}')`;

function entry(queue: string): QueueDepth {
  const at = queue.lastIndexOf('@');
  return {
    queue,
    agent: queue.slice(PREFIX.length, at),
    version: queue.slice(at + 1),
    queued: 0,
    byPriority: [],
    running: 0,
    waiting: 0,
    oldestQueuedMs: null,
    tickets: { ready: 0, scheduled: 0, taken: 0 },
  };
}

/**
 * The depth of the workers' queues of a PostgreSQL store, one entry per agent id and version, sorted
 * by queue name: runs queued (by priority), running, waiting, how long the oldest queued run has been
 * queued, and the tickets behind them. What `statecraft queue` prints.
 * @example
 * for (const queue of await queueDepth('postgres://localhost/app')) console.log(queue.queue, queue.queued);
 */
export async function queueDepth(store: RunStore | string): Promise<QueueDepth[]> {
  const postgres = postgresStoreFor(store, 'queue');
  try {
    const db: SqlExecutor = postgres.executor();
    const s = `"${postgres.schema}"`;
    const q = `${postgres.schema}_queue`;
    const queues = new Map<string, QueueDepth>();
    const of = (name: string) => queues.get(name) ?? queues.set(name, entry(name)).get(name)!;
    // The queue's schema is made by the first submit or worker: before that, no ticket was ever sent.
    const { rows: found } = await db.executeSql('SELECT to_regclass($1) IS NOT NULL AND to_regclass($2) IS NOT NULL AS made', [`${q}.job`, `${q}.queue`]);
    if ((found[0] as { made: boolean }).made) {
      for (const row of (await db.executeSql(ticketsSql(q))).rows as { name: string; ready: number; scheduled: number; taken: number }[]) {
        const { tickets } = of(row.name);
        tickets.ready += row.ready;
        tickets.scheduled += row.scheduled;
        tickets.taken += row.taken;
      }
    }
    const rows = (await db.executeSql(runsSql(s))).rows as { queue: string; priority: number; running: number; waiting: number; queued: number; oldest_ms: number | null }[];
    for (const row of rows) {
      const depth = of(row.queue);
      depth.running += row.running;
      depth.waiting += row.waiting;
      depth.queued += row.queued;
      if (row.queued > 0) depth.byPriority.push({ priority: row.priority, queued: row.queued });
      if (row.oldest_ms !== null) depth.oldestQueuedMs = Math.max(depth.oldestQueuedMs ?? 0, Math.round(row.oldest_ms));
    }
    for (const depth of queues.values()) depth.byPriority.sort((a, b) => b.priority - a.priority);
    return [...queues.values()].sort((a, b) => (a.queue < b.queue ? -1 : a.queue > b.queue ? 1 : 0));
  } finally {
    if (typeof store === 'string') await postgres.close();
  }
}
