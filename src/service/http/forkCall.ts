import type { Context } from 'hono';
import type { Operation, RunSummary } from '../../log/format/record.ts';
import { requireScope } from './authGuard.ts';
import { withinRunSlot } from './limitRoutes.ts';
import { tenantRuns, type ServiceDeps } from './serviceDeps.ts';
import type { ServiceEnv } from './serviceEnv.ts';

/**
 * Forks a run of the caller's tenant at `seq` (404 for another tenant's), within the tenant's
 * concurrent runs, and continues the fork unless it waits for decisions as its parent did; logs it.
 */
export async function forkCall(deps: ServiceDeps, c: Context<ServiceEnv>, runId: string, seq: number, edit?: Operation[]): Promise<{ runId: string; status: RunSummary['status'] }> {
  const principal = c.get('principal');
  requireScope(principal, 'runs:create');
  // Checked before the fork is made, whether or not it will wait for decisions: a refused fork leaves nothing behind.
  const runs = tenantRuns(deps, c);
  const forkId = await withinRunSlot(deps, principal.tenantId, () => runs.fork(runId, seq, edit, principal.key.keyId));
  const { status } = await runs.summary(forkId);
  // A fork at a waiting record waits for decisions as its parent did; one in the middle of its work (not started yet) continues now.
  if (status === 'created') await deps.executor.resume(forkId);
  deps.logger.log('info', 'run.forked', { requestId: c.get('requestId'), tenant: principal.tenantId, keyId: principal.key.keyId, runId: forkId, from: runId, seq });
  return { runId: forkId, status: (await runs.summary(forkId)).status };
}
