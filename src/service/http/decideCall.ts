import type { Context } from 'hono';
import type { Decision } from '../execution/RunExecutor.ts';
import { requireScope } from './authGuard.ts';
import { ProblemError } from './problem.ts';
import { tenantRuns, type ServiceDeps } from './serviceDeps.ts';
import type { ServiceEnv } from './serviceEnv.ts';

/**
 * Decides a waiting call of a run of the caller's tenant: checks the scope, the run's tenant (404
 * otherwise) and separation of duties, records the person (`request.by`) and the key in `by`, and logs the decision.
 * The executor refuses a call that does not wait or a hash that names other arguments.
 */
export async function decideCall(deps: ServiceDeps, c: Context<ServiceEnv>, runId: string, request: Decision): Promise<{ by: string }> {
  const principal = c.get('principal');
  requireScope(principal, 'approvals:decide');
  const ownership = await tenantRuns(deps, c).owned(runId);
  if (deps.separationOfDuties && ownership.createdByKey === principal.key.keyId) {
    throw new ProblemError(403, 'separation-of-duties', 'Separation of duties',
      `API key ${principal.key.keyId} started run ${runId}, and this service requires another key to decide its calls (separation of duties): send the decision with an approver's key.`);
  }
  // The person and the key are both recorded in the decision's `by`, in the run's log.
  const by = `${request.by} (key ${principal.key.keyId})`;
  await deps.executor.decide(runId, { ...request, by });
  deps.logger.log('info', `approval.${request.kind === 'approve' ? 'approved' : 'rejected'}`, { requestId: c.get('requestId'), tenant: principal.tenantId, keyId: principal.key.keyId, person: request.by, runId, callId: request.callId });
  return { by };
}
