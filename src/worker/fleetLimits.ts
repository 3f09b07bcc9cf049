import { UserError } from '../errors.ts';
import type { LeaseLimit, LeaseLimits, LimitedRun } from '../log/stores/postgres/leaseLimits.ts';
import type { RunLeases, SqlExecutor } from '../log/stores/postgres/runLeases.ts';
import { closestName } from '../nearestName.ts';
import { queueName, type RunQueue } from './runQueue.ts';

/**
 * Concurrency limits counted across every worker of the store: a run is taken only while its agent
 * and its tenant have fewer runs leased than their limit, checked and taken in one transaction.
 */
export interface FleetLimitsOptions {
  /** At most this many runs of an agent leased at once, by all workers together; the key is `name@version`, or `name` for all its versions together. */
  agents?: Record<string, number>;
  /** At most this many runs of a tenant (the run's `statecraft.tenant` label) leased at once, by all workers together; `*` applies to each tenant not named. */
  tenants?: Record<string, number>;
}

/** How long a run refused by a limit waits before its ticket can be taken again. */
export const DEFERRED_SECONDS = 1;

type Named = { name: string; version: string };

function checkMax(where: string, key: string, max: unknown): void {
  if (!(typeof max === 'number' && Number.isInteger(max) && max >= 1)) {
    throw new UserError(`Worker limit ${where}["${key}"] must be a whole number of runs, 1 or more, found ${JSON.stringify(max)}.`);
  }
}

/** Checks the limits before the worker starts: whole numbers, and agent keys naming one of the worker's agents. */
export function checkFleetLimits(options: FleetLimitsOptions, agents: readonly Named[]): void {
  const known = [...new Set(agents.flatMap((agent) => [agent.name, `${agent.name}@${agent.version}`]))];
  for (const [key, max] of Object.entries(options.agents ?? {})) {
    checkMax('agents', key, max);
    if (!known.includes(key)) {
      const near = closestName(key, known);
      throw new UserError(`Worker limit agents["${key}"] names no agent of this worker (its agents: ${known.join(', ')}).${near ? ` Did you mean ${near}?` : ''} Key a limit by agent name, or name@version.`);
    }
  }
  for (const [key, max] of Object.entries(options.tenants ?? {})) checkMax('tenants', key, max);
}

/** The limits one worker enforces when it takes runs (see `RunLeases.acquire`), and the room they leave in a queue. */
export class FleetLimits {
  readonly #byQueue = new Map<string, LeaseLimit[]>();
  readonly #tenants: Record<string, number>;
  readonly #leases: RunLeases;
  readonly #queue: RunQueue;

  constructor(options: FleetLimitsOptions | undefined, agents: readonly Named[], leases: RunLeases, queue: RunQueue) {
    this.#tenants = options?.tenants ?? {};
    this.#leases = leases;
    this.#queue = queue;
    for (const agent of agents) {
      const limits: LeaseLimit[] = [];
      const exact = `${agent.name}@${agent.version}`;
      const versioned = options?.agents?.[exact];
      const all = options?.agents?.[agent.name];
      // One lock per agent name, whichever form its limits take in this worker or another.
      const lock = `agent ${agent.name}`;
      if (versioned !== undefined) limits.push({ key: `agent ${exact}`, lock, max: versioned, queue: queueName(agent) });
      if (all !== undefined) limits.push({ key: `agent ${agent.name}`, lock, max: all, queuePrefix: queueName({ name: agent.name, version: '' }) });
      this.#byQueue.set(queueName(agent), limits);
    }
  }

  /** The limits a run counts against: its agent's, and its tenant's. */
  for(run: Pick<LimitedRun, 'queue' | 'tenant'>): LeaseLimit[] {
    const limits = [...(this.#byQueue.get(run.queue) ?? [])];
    const tenant = run.tenant === null ? undefined : (this.#tenants[run.tenant] ?? this.#tenants['*']);
    if (tenant !== undefined) limits.push({ key: `tenant ${run.tenant}`, lock: `tenant ${run.tenant}`, max: tenant, tenant: run.tenant! });
    return limits;
  }

  /**
   * What `acquire` is given to take one run: undefined when no limit is set; otherwise a run a limit
   * refuses gets a new ticket a moment later, with its priority and place, and `onRefused` hears which limit.
   */
  taking(onRefused: (limit: LeaseLimit) => void): LeaseLimits | undefined {
    if (!this.limited) return undefined;
    return {
      for: (run) => this.for(run),
      refused: async (db: SqlExecutor, run: LimitedRun, limit: LeaseLimit) => {
        await this.#queue.requeue(run, db, DEFERRED_SECONDS);
        onRefused(limit);
      },
    };
  }

  get limited(): boolean {
    return Object.keys(this.#tenants).length > 0 || [...this.#byQueue.values()].some((limits) => limits.length > 0);
  }

  /** How many more runs of the queue its agent limits have room for now (Infinity without one): how many tickets are worth taking. */
  async room(queue: string): Promise<number> {
    let room = Infinity;
    for (const limit of this.#byQueue.get(queue) ?? []) room = Math.min(room, limit.max - (await this.#leases.live(limit)));
    return room;
  }
}
