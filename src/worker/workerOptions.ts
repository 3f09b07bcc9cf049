import { UserError } from '../errors.ts';
import type { RunStore } from '../log/stores/runStore.ts';
import type { ModelLimits } from '../rateLimits/ModelLimits.ts';
import { checkModelLimits, type ModelLimitsOptions } from '../rateLimits/modelLimitsConfig.ts';
import type { Agent } from '../runtime/defineAgent.ts';
import type { RunResult } from '../runtime/runEvents.ts';
import { checkFleetLimits, type FleetLimits, type FleetLimitsOptions } from './fleetLimits.ts';

/** Options of `startWorker`. */
export interface WorkerOptions {
  /** The PostgreSQL store the workers share: a PostgresStore or a postgres:// URL (`?schema=`). */
  store: RunStore | string;
  /** The agents this worker runs, matched to queued runs by name and version; it loads no other code. */
  agents: Agent[];
  /** Runs in flight at once in this worker (default 10): most of a run's time is spent waiting on its model. */
  concurrency?: number;
  /**
   * How long a lease lasts without renewal (default 30 s); renewed every third of it. A worker that
   * dies or freezes loses its runs this long after its last renewal, by the database's clock, and
   * another worker continues them.
   */
  leaseMs?: number;
  /** How often the queue is asked for runs while there is room (default 500 ms). */
  pollMs?: number;
  /** On `stop()` (SIGTERM), how long runs in flight get to reach their next model request or end (default 10 s). */
  graceMs?: number;
  /**
   * Rate limits of the model endpoints the runs call (requests and tokens per minute), counted in the
   * store by every worker given them: a model call waits while its endpoint has no room, and a 429 any
   * worker gets makes every worker wait as the provider asked. See `openModelLimits`.
   */
  modelLimits?: ModelLimitsOptions;
  /**
   * Concurrency limits per agent and per tenant, counted in the store across every worker given them:
   * `{ agents: { support: 20 }, tenants: { '*': 5, acme: 50 } }`. A run over a limit is not taken: it
   * stays queued, with its priority and place, and holds no worker. Give every worker the same limits.
   */
  limits?: FleetLimitsOptions;
  onEvent?: (event: WorkerEvent) => void;
}

/** What a worker tells its `onEvent` listener (and `statecraft worker` prints). */
export type WorkerEvent =
  | { type: 'worker.started'; workerId: string; queues: string[] }
  | { type: 'run.taken'; workerId: string; runId: string; epoch: number; resumed: boolean }
  | { type: 'run.ended'; workerId: string; runId: string; status: RunResult['status']; output: unknown }
  | { type: 'run.released'; workerId: string; runId: string }
  /** A limit (`limits`: `agent support`, `tenant acme`) had no room for the run: it goes back to its queue for a moment later. */
  | { type: 'run.deferred'; workerId: string; runId: string; limit: string; max: number }
  /** Decisions queued on a waiting run (`decideQueued`) were sent to it here; `refused` says why any was not (a call no longer waiting, other arguments). */
  | { type: 'run.decided'; workerId: string; runId: string; applied: number; refused: string[] }
  /** A run let go while waiting has a ticket scheduled for its next approval or run deadline (epoch ms). */
  | { type: 'run.scheduled'; workerId: string; runId: string; wakeAt: number }
  /** The run's lease was lost (expired or taken over): this worker stopped running it, and any append it tried was refused. */
  | { type: 'lease.lost'; workerId: string; runId: string; epoch: number; detail: string }
  /** The store refused an append of this worker's under a lease it no longer holds (fencing): nothing of it was stored. */
  | { type: 'append.refused'; workerId: string; runId: string; epoch: number; detail: string }
  /** The run stopped here for another reason; its lease is left to expire, and another worker continues it then. */
  | { type: 'run.error'; workerId: string; runId: string; detail: string }
  | { type: 'worker.error'; workerId: string; detail: string }
  | { type: 'worker.draining'; workerId: string; inFlight: number }
  | { type: 'worker.stopped'; workerId: string }
  /** A model call of one of the worker's runs waits for its endpoint's shared rate limits (`modelLimits`). */
  | { type: 'model.waiting'; workerId: string; endpoint: string; reason: 'blocked' | 'requestsPerMinute' | 'tokensPerMinute'; delayMs: number };

export interface ResolvedWorkerOptions {
  concurrency: number;
  leaseMs: number;
  pollMs: number;
  graceMs: number;
  /** Opened by `startWorker` on the worker's store from the `modelLimits` option. */
  modelLimits?: ModelLimits;
  /** Made by `startWorker` from the `limits` option. */
  fleetLimits?: FleetLimits;
}

const positive = (name: string, value: number | undefined, fallback: number, min: number, unit: string): number => {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) throw new UserError(`Worker option ${name} must be a number of ${unit} of at least ${min}, found ${String(value)}.`);
  return value;
};

/** Checks a worker's options before anything starts: agents present and unambiguous, numbers in range. */
export function checkWorkerOptions(options: WorkerOptions): ResolvedWorkerOptions {
  if (!Array.isArray(options.agents) || options.agents.length === 0) {
    throw new UserError('A worker needs at least one agent: pass agents: [agent] (statecraft worker --agents <module ...>).');
  }
  const seen = new Set<string>();
  for (const agent of options.agents) {
    const key = `${agent.name}@${agent.version}`;
    if (seen.has(key)) throw new UserError(`Two of the worker's agents are ${key}: a worker takes runs by agent name and version, so each may be given once.`);
    seen.add(key);
  }
  if (options.modelLimits !== undefined) checkModelLimits(options.modelLimits);
  if (options.limits !== undefined) checkFleetLimits(options.limits, options.agents);
  const concurrency = positive('concurrency', options.concurrency, 10, 1, 'runs');
  if (!Number.isInteger(concurrency)) throw new UserError(`Worker option concurrency must be a whole number of runs, found ${concurrency}.`);
  return {
    concurrency,
    leaseMs: positive('leaseMs', options.leaseMs, 30_000, 300, 'milliseconds'),
    pollMs: positive('pollMs', options.pollMs, 500, 10, 'milliseconds'),
    graceMs: positive('graceMs', options.graceMs, 10_000, 0, 'milliseconds'),
  };
}
