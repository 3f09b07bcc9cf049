import { randomUUID } from 'node:crypto';
import { UserError } from '../errors.ts';
import { newRunSummary, type RunStore } from '../log/stores/runStore.ts';
import type { Agent } from '../runtime/defineAgent.ts';
import { assertPriced } from '../runtime/defineAgent.ts';
import { resolveModel } from '../runtime/resolveModel.ts';
import { runHeader } from '../runtime/startRun.ts';
import { postgresStoreFor, queueName, RunQueue } from './runQueue.ts';

/** The label that names a run's tenant (the hosted service sets it on every run). */
const TENANT_LABEL = 'statecraft.tenant';

/** Options of `submitRun`. */
export interface SubmitOptions {
  /** The PostgreSQL store the workers share: a PostgresStore or a postgres:// URL (`?schema=`). */
  store: RunStore | string;
  runId?: string;
  /** Higher runs first (default 0); within a priority, the oldest run first. */
  priority?: number;
  /** Free-form labels kept in the run's header. */
  labels?: Record<string, string>;
  /** The tenant the run belongs to, kept as its `statecraft.tenant` label and counted by the workers' per-tenant limits. */
  tenant?: string;
  /** The module the agent was loaded from, recorded as the store's own fact for `statecraft resume` and `approve` (see RunSummary.agentModule). */
  agentModule?: string;
  /**
   * A worker that dies after taking the run's ticket from the queue and before taking its lease leaves
   * the ticket taken: the queue gives it back this long after it was taken (default 30 s).
   */
  ticketExpireSeconds?: number;
}

/** What `submitRun` created: the run, and the queue its ticket waits in. */
export interface Submitted {
  runId: string;
  queue: string;
}

/**
 * Queue a run of `agent` for the workers: the run is created in the store (status `queued`, its header
 * and input recorded), its lease row and its ticket in the same transaction, so a run is queued whole
 * or not at all. A worker started with this agent's module (same name and version) takes it. The
 * workers run the agent with their own copy of its code and model.
 * @example
 * const { runId } = await submitRun(agent, 'Summarise README.md', { store: 'postgres://localhost/app' });
 */
export async function submitRun(agent: Agent, input: string, options: SubmitOptions): Promise<Submitted> {
  const store = postgresStoreFor(options.store, 'submit');
  const priority = options.priority ?? 0;
  if (!Number.isInteger(priority) || Math.abs(priority) > 2 ** 31 - 1) {
    throw new UserError(`priority must be a whole number (higher runs first), found ${String(options.priority)}.`);
  }
  const model = resolveModel(agent.model);
  assertPriced(agent, model.info.model);
  const runId = options.runId ?? randomUUID();
  const labels = { ...options.labels, ...(options.tenant === undefined ? {} : { [TENANT_LABEL]: options.tenant }) };
  const header = runHeader(agent, model, runId, { input }, Object.keys(labels).length ? { labels } : {});
  const queue = queueName(agent);
  const owned = typeof options.store === 'string';
  const runs = await RunQueue.open(store, { supervise: false, ...(options.ticketExpireSeconds === undefined ? {} : { ticketExpireSeconds: options.ticketExpireSeconds }) });
  try {
    await runs.ensure(queue);
    const summary = { ...newRunSummary(header), status: 'queued' as const, ...(options.agentModule ? { agentModule: options.agentModule } : {}) };
    await store.createRun(header, summary, async (db) => {
      await store.leases().register(db, runId, queue, priority, labels[TENANT_LABEL]);
      await runs.send(queue, runId, priority, db);
    });
  } finally {
    await runs.close();
    if (owned) await store.close();
  }
  return { runId, queue };
}
