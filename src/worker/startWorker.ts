import { openModelLimits } from '../rateLimits/ModelLimits.ts';
import type { Agent } from '../runtime/defineAgent.ts';
import { postgresStoreFor, queueName, RunQueue } from './runQueue.ts';
import { FleetLimits } from './fleetLimits.ts';
import { Worker } from './Worker.ts';
import { checkWorkerOptions, type WorkerOptions } from './workerOptions.ts';

/**
 * Start a worker in this process: it takes queued runs of `agents` (by name and version) from the
 * PostgreSQL store's queue, holds each by a lease renewed on the database's clock, and keeps up to
 * `concurrency` runs in flight. `worker.stop()` drains it (what SIGTERM does in `statecraft worker`).
 * @example
 * const worker = await startWorker({ store: 'postgres://localhost/app', agents: [agent], concurrency: 20 });
 * process.once('SIGTERM', () => void worker.stop());
 */
export async function startWorker(options: WorkerOptions): Promise<Worker> {
  const resolved = checkWorkerOptions(options);
  const store = postgresStoreFor(options.store, 'worker');
  const owned = typeof options.store === 'string';
  let queue: RunQueue | undefined;
  let worker: Worker | undefined;
  try {
    queue = await RunQueue.open(store, { supervise: true, ticketExpireSeconds: Math.ceil(resolved.leaseMs / 1000) });
    for (const agent of options.agents as Agent[]) await queue.ensure(queueName(agent));
    resolved.fleetLimits = new FleetLimits(options.limits, options.agents, store.leases(), queue);
    if (options.modelLimits) {
      const { onWait } = options.modelLimits;
      resolved.modelLimits = await openModelLimits(
        {
          ...options.modelLimits,
          onWait: (wait) => {
            onWait?.(wait);
            if (worker) options.onEvent?.({ type: 'model.waiting', workerId: worker.id, ...wait });
          },
        },
        store,
      );
    }
  } catch (error) {
    await queue?.close().catch(() => {});
    if (owned) await store.close().catch(() => {});
    throw error;
  }
  worker = new Worker(store, queue, options.agents, resolved, options.onEvent, async () => {
    await resolved.modelLimits?.close();
    if (owned) await store.close();
  });
  worker.start();
  return worker;
}
