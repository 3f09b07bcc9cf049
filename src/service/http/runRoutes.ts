import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import { RUN_STATUSES, type Operation, type RunHeader, type RunSummary } from '../../log/format/record.ts';
import { KEY_LABEL, TENANT_LABEL, decodeCursor, encodeCursor } from '../TenantRuns.ts';
import { requireScope } from './authGuard.ts';
import { forkCall } from './forkCall.ts';
import { withinRunSlot } from './limitRoutes.ts';
import { ProblemError } from './problem.ts';
import {
  COMMON_PROBLEMS,
  CreateRunBody,
  CreatedRunSchema,
  ForkBody,
  HistoryEntrySchema,
  ListQuery,
  RangeQuery,
  RunIdParam,
  RunListSchema,
  RunSchema,
  SeqParam,
  StateSchema,
  problemResponses,
} from './schemas.ts';
import { tenantRuns, type ServiceDeps } from './serviceDeps.ts';
import type { ServiceEnv } from './serviceEnv.ts';

const json = <T>(schema: T, description: string) => ({ description, content: { 'application/json': { schema } } });
const body = <T>(schema: T) => ({ body: { required: true, content: { 'application/json': { schema } } } });
const security = [{ bearer: [] }];

/** A run as the API shows it: its header's public facts (no labels: they hold the tenant and key) and its summary. */
export function runView(header: RunHeader, summary: RunSummary) {
  const { owner: _owner, agentModule: _module, ...shown } = summary;
  return {
    runId: header.runId,
    agent: header.agent,
    ...(header.labels?.thread ? { thread: header.labels.thread } : {}),
    ...(header.parent ? { parent: header.parent } : {}),
    createdAt: header.createdAt,
    ...(header.input === undefined ? {} : { input: header.input }),
    summary: shown,
  };
}

/** Records one history request answers at most; the next are asked with `from`. */
const MAX_HISTORY = 1000;

const summaryView = ({ owner: _owner, agentModule: _module, ...shown }: RunSummary) => shown;

const links = (runId: string) => ({ self: `/v1/runs/${runId}`, events: `/v1/runs/${runId}/events`, history: `/v1/runs/${runId}/history`, approvals: `/v1/runs/${runId}/approvals` });

export function runRoutes(app: OpenAPIHono<ServiceEnv>, deps: ServiceDeps): void {
  app.openapi(
    createRoute({ method: 'post', path: '/v1/runs', summary: 'Start a run', security, request: body(CreateRunBody), responses: { 201: json(CreatedRunSchema, 'The run started'), ...problemResponses(...COMMON_PROBLEMS, 413, 422) } }),
    async (c) => {
      const principal = c.get('principal');
      requireScope(principal, 'runs:create');
      const request = c.req.valid('json');
      if (!deps.executor.agentIds().includes(request.agent)) {
        throw new ProblemError(422, 'unknown-agent', 'Unknown agent', `No agent "${request.agent}" is served here; agents served: ${deps.executor.agentIds().join(', ') || 'none'}.`);
      }
      const runs = tenantRuns(deps, c);
      const runId = await withinRunSlot(deps, principal.tenantId, async () => {
        const claimed = await runs.claim(principal.key.keyId, request.thread);
        const labels = { [TENANT_LABEL]: principal.tenantId, [KEY_LABEL]: principal.key.keyId, ...(request.thread ? { thread: request.thread } : {}) };
        await deps.executor.start({ runId: claimed, agentId: request.agent, input: request.input, labels, ...(request.history ? { history: request.history } : {}) });
        return claimed;
      });
      deps.logger.log('info', 'run.started', { requestId: c.get('requestId'), tenant: principal.tenantId, keyId: principal.key.keyId, runId, agent: request.agent });
      const { status } = await runs.summary(runId);
      return c.json({ runId, status, links: links(runId) }, 201, { location: `/v1/runs/${runId}` });
    },
  );

  app.openapi(
    createRoute({ method: 'get', path: '/v1/runs', summary: "List your tenant's runs, newest first", security, request: { query: ListQuery }, responses: { 200: json(RunListSchema, 'A page of runs'), ...problemResponses(...COMMON_PROBLEMS) } }),
    async (c) => {
      requireScope(c.get('principal'), 'runs:read');
      const query = c.req.valid('query');
      const status = query.status?.split(',').filter(Boolean);
      const unknown = status?.filter((item) => !(RUN_STATUSES as readonly string[]).includes(item)) ?? [];
      if (unknown.length) throw new ProblemError(400, 'bad-filter', 'Bad filter', `Unknown run status "${unknown.join(', ')}": use one of ${RUN_STATUSES.join(', ')}.`);
      const limit = query.limit === undefined ? 50 : Number(query.limit);
      if (limit < 1 || limit > 200) throw new ProblemError(400, 'bad-filter', 'Bad filter', `Expected limit to be a whole number from 1 to 200, found "${query.limit}".`);
      const page = await tenantRuns(deps, c).list({
        limit,
        ...(status?.length ? { status: status as RunSummary['status'][] } : {}),
        ...(query.agent ? { agentId: query.agent } : {}),
        ...(query.parent ? { parentRunId: query.parent } : {}),
        ...(query.thread ? { thread: query.thread } : {}),
        ...(query.cursor ? { after: decodeCursor(query.cursor) } : {}),
      });
      return c.json({ runs: page.runs.map(summaryView), ...(page.next ? { next: encodeCursor(page.next) } : {}) }, 200);
    },
  );

  app.openapi(
    createRoute({ method: 'get', path: '/v1/runs/{runId}', summary: 'Get a run', security, request: { params: RunIdParam }, responses: { 200: json(RunSchema, 'The run'), ...problemResponses(...COMMON_PROBLEMS, 404) } }),
    async (c) => {
      requireScope(c.get('principal'), 'runs:read');
      const { header, summary } = await tenantRuns(deps, c).get(c.req.valid('param').runId);
      return c.json(runView(header, summary), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get', path: '/v1/runs/{runId}/history', summary: `A run's records, without patches and snapshots: at most ${MAX_HISTORY} from \`from\``, security,
      request: { params: RunIdParam, query: RangeQuery },
      responses: { 200: json(HistoryEntrySchema.array(), 'History entries, by seq'), ...problemResponses(...COMMON_PROBLEMS, 404) },
    }),
    async (c) => {
      requireScope(c.get('principal'), 'runs:read');
      const { from, to } = c.req.valid('query');
      const first = from === undefined ? 0 : Number(from);
      const range = { from: first, to: Math.min(to === undefined ? Number.MAX_SAFE_INTEGER : Number(to), first + MAX_HISTORY - 1) };
      return c.json(await tenantRuns(deps, c).history(c.req.valid('param').runId, range), 200);
    },
  );

  app.openapi(
    createRoute({ method: 'get', path: '/v1/runs/{runId}/state/{seq}', summary: "The run's full state after a record", security, request: { params: SeqParam }, responses: { 200: json(StateSchema, 'The state'), ...problemResponses(...COMMON_PROBLEMS, 404) } }),
    async (c) => {
      requireScope(c.get('principal'), 'runs:read');
      const { runId, seq } = c.req.valid('param');
      return c.json({ runId, seq: Number(seq), state: await tenantRuns(deps, c).stateAt(runId, Number(seq)) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post', path: '/v1/runs/{runId}/fork', summary: 'Fork a run from a record (optionally editing its context) and continue the fork', security,
      request: { params: RunIdParam, ...body(ForkBody) },
      responses: { 201: json(CreatedRunSchema, 'The fork'), ...problemResponses(...COMMON_PROBLEMS, 404, 413, 422) },
    }),
    async (c) => {
      const { seq, edit } = c.req.valid('json');
      const fork = await forkCall(deps, c, c.req.valid('param').runId, seq, edit as Operation[] | undefined);
      return c.json({ ...fork, links: links(fork.runId) }, 201, { location: `/v1/runs/${fork.runId}` });
    },
  );
}
