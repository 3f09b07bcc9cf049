import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import { requireScope } from './authGuard.ts';
import { decideCall } from './decideCall.ts';
import { ApproveBody, CallParam, CancelBody, COMMON_PROBLEMS, DecisionSchema, PendingCallSchema, problemResponses, RejectBody, RunIdParam, RunSummarySchema } from './schemas.ts';
import { tenantRuns, type ServiceDeps } from './serviceDeps.ts';
import type { ServiceEnv } from './serviceEnv.ts';

const json = <T>(schema: T, description: string) => ({ description, content: { 'application/json': { schema } } });
const body = <T>(schema: T) => ({ body: { required: true, content: { 'application/json': { schema } } } });
const security = [{ bearer: [] }];

export function decisionRoutes(app: OpenAPIHono<ServiceEnv>, deps: ServiceDeps): void {
  app.openapi(
    createRoute({ method: 'get', path: '/v1/runs/{runId}/approvals', summary: 'Tool calls the run waits on, with their arguments hashes', security, request: { params: RunIdParam }, responses: { 200: json(PendingCallSchema.array(), 'Waiting calls'), ...problemResponses(...COMMON_PROBLEMS, 404) } }),
    async (c) => {
      requireScope(c.get('principal'), 'runs:read');
      const summary = await tenantRuns(deps, c).summary(c.req.valid('param').runId);
      return c.json(summary.status === 'waiting' && Array.isArray(summary.waitingOn) ? (summary.waitingOn as { callId: string; tool: string }[]) : [], 200);
    },
  );

  for (const kind of ['approve', 'reject'] as const) {
    app.openapi(
      createRoute({
        method: 'post', path: `/v1/runs/{runId}/approvals/{callId}/${kind}`, summary: kind === 'approve' ? 'Approve a waiting call' : 'Reject a waiting call', security,
        request: { params: CallParam, ...body(kind === 'approve' ? ApproveBody : RejectBody) },
        responses: { 202: json(DecisionSchema, 'Decided; the run continues'), ...problemResponses(...COMMON_PROBLEMS, 404, 413, 422) },
      }),
      async (c) => {
        const { runId, callId } = c.req.valid('param');
        const request = c.req.valid('json') as { argsHash: string; by: string; actor?: string; reason?: string };
        const decided = { callId, argsHash: request.argsHash, by: request.by, ...(request.actor === undefined ? {} : { actor: request.actor }) };
        const { by } = await decideCall(deps, c, runId, kind === 'approve' ? { ...decided, kind } : { ...decided, kind, reason: request.reason ?? '' });
        return c.json({ runId, callId, decision: kind === 'approve' ? ('approved' as const) : ('rejected' as const), by }, 202);
      },
    );
  }

  app.openapi(
    createRoute({
      method: 'post', path: '/v1/runs/{runId}/cancel', summary: 'Cancel a run running here or waiting', security,
      request: { params: RunIdParam, body: { required: false, content: { 'application/json': { schema: CancelBody } } } },
      responses: { 200: json(RunSummarySchema, 'The run, cancelled'), ...problemResponses(...COMMON_PROBLEMS, 404, 422) },
    }),
    async (c) => {
      const principal = c.get('principal');
      requireScope(principal, 'runs:create');
      const { runId } = c.req.valid('param');
      const runs = tenantRuns(deps, c);
      await runs.owned(runId);
      const reason = (c.req.valid('json') as { reason?: string } | undefined)?.reason ?? `Cancelled through the API with key ${principal.key.keyId}.`;
      await deps.executor.cancel(runId, reason);
      const { owner: _owner, agentModule: _module, ...summary } = await runs.summary(runId);
      return c.json(summary, 200);
    },
  );
}
