import type { Context } from 'hono';
import type { InspectorActions } from '../../inspector/inspectorApi.ts';
import { requireScope } from '../http/authGuard.ts';
import { decideCall } from '../http/decideCall.ts';
import { forkCall } from '../http/forkCall.ts';
import { ProblemError } from '../http/problem.ts';
import { tenantRuns, type ServiceDeps } from '../http/serviceDeps.ts';
import type { ServiceEnv } from '../http/serviceEnv.ts';

const hashOf = (argsHash: string | undefined, runId: string, callId: string): string => {
  if (argsHash) return argsHash;
  throw new ProblemError(400, 'args-hash-missing', 'Arguments hash missing',
    `A decision on call ${callId} of run ${runId} must name the hash of the arguments it was shown (argsHash), so that it applies to those arguments only: reload the run in the inspector and decide again.`);
};

/**
 * What the served inspector's buttons do for the key that sent the request: the service's own
 * decisions (scope approvals:decide, the run's tenant, separation of duties, the arguments hash, the
 * key recorded in `by`), its forks and cancels (scope runs:create), each on the caller's tenant's runs only.
 */
export function inspectorActions(deps: ServiceDeps, c: Context<ServiceEnv>): InspectorActions {
  const principal = c.get('principal');
  const runs = tenantRuns(deps, c);
  const actor = (given: string | undefined) => (given ? { actor: given } : {});
  return {
    approve: async (runId, callId, by, argsHash, path) => {
      await decideCall(deps, c, runId, { kind: 'approve', callId, argsHash: hashOf(argsHash, runId, callId), by, ...actor(path) });
    },
    reject: async (runId, callId, reason, by, argsHash, path) => {
      await decideCall(deps, c, runId, { kind: 'reject', reason, callId, argsHash: hashOf(argsHash, runId, callId), by, ...actor(path) });
    },
    fork: async (runId, seq, edit) => (await forkCall(deps, c, runId, seq, edit)).runId,
    cancel: async (runId, reason) => {
      requireScope(principal, 'runs:create');
      await runs.owned(runId);
      await deps.executor.cancel(runId, `${reason} (key ${principal.key.keyId})`);
      deps.logger.log('info', 'run.cancelled', { requestId: c.get('requestId'), tenant: principal.tenantId, keyId: principal.key.keyId, runId });
      return (await runs.summary(runId)).status;
    },
    resume: async (runId, model) => {
      requireScope(principal, 'runs:create');
      const { status } = await runs.summary(runId);
      if (model !== undefined) {
        throw new ProblemError(422, 'model-not-chosen-here', 'Model not chosen here', `Run ${runId} starts with the model its agent is served with; the service does not take another (${model.slice(0, 100)}): start it without choosing one.`);
      }
      if (status !== 'created') {
        throw new ProblemError(409, 'not-startable', 'Run not startable', `Run ${runId} is ${status}, and only a fork that was never started can be started here: decide its waiting calls, or fork it again.`);
      }
      await deps.executor.resume(runId);
      deps.logger.log('info', 'run.resumed', { requestId: c.get('requestId'), tenant: principal.tenantId, keyId: principal.key.keyId, runId });
    },
  };
}
