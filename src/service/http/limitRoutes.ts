import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import { requireScope } from './authGuard.ts';
import { ProblemError } from './problem.ts';
import { COMMON_PROBLEMS, problemResponses } from './schemas.ts';
import type { ServiceDeps } from './serviceDeps.ts';
import type { WindowCount } from '../limits/SharedLimits.ts';
import type { ServiceEnv } from './serviceEnv.ts';

const seconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

/**
 * Counts each authenticated request against its key's and its tenant's rate (per minute, across
 * instances); one over either is refused with 429 and Retry-After, the end of the minute.
 */
export function requestRate(deps: ServiceDeps): MiddlewareHandler<ServiceEnv> {
  return async (c, next) => {
    const { tenantId, key } = c.get('principal');
    const quota = deps.limits.quota(tenantId);
    if (quota.requestsPerMinute === undefined && quota.keyRequestsPerMinute === undefined) return next();
    const counts = await deps.limits.request(tenantId, key.keyId);
    const over =
      quota.keyRequestsPerMinute !== undefined && counts.key.used > quota.keyRequestsPerMinute
        ? { limit: quota.keyRequestsPerMinute, msLeft: counts.key.msLeft, who: `API key ${key.keyId}`, setting: 'keyRequestsPerMinute', also: '' }
        : quota.requestsPerMinute !== undefined && counts.tenant.used > quota.requestsPerMinute
          ? { limit: quota.requestsPerMinute, msLeft: counts.tenant.msLeft, who: `Tenant "${tenantId}"`, setting: 'requestsPerMinute', also: ', all its keys and the service\'s instances together' }
          : undefined;
    if (quota.requestsPerMinute !== undefined) {
      c.header('ratelimit-limit', String(quota.requestsPerMinute));
      c.header('ratelimit-remaining', String(Math.max(0, quota.requestsPerMinute - counts.tenant.used)));
      c.header('ratelimit-reset', String(seconds(counts.tenant.msLeft)));
    }
    if (over) {
      const retryAfter = String(seconds(over.msLeft));
      deps.logger.log('warn', 'rate.limited', { requestId: c.get('requestId'), tenant: tenantId, keyId: key.keyId, limit: over.setting, retryAfterS: Number(retryAfter) });
      throw new ProblemError(429, 'rate-limited', 'Too many requests',
        `${over.who} made more than ${over.limit} requests within a minute (${over.setting}${over.also}), so this request was refused: retry in ${retryAfter} s.`,
        { headers: { 'retry-after': retryAfter } });
    }
    await next();
  };
}

/**
 * Starts a run with `start` unless the tenant already runs as many as it may at once: the count and
 * the start happen while no other start of the tenant's runs does (see SharedLimits.startingRun).
 */
export async function withinRunSlot<T>(deps: ServiceDeps, tenantId: string, start: () => Promise<T>): Promise<T> {
  const limit = deps.limits.quota(tenantId).concurrentRuns;
  if (limit === undefined) return start();
  return deps.limits.startingRun(tenantId, async () => {
    await assertRunSlot(deps, tenantId, limit);
    return start();
  });
}

/** Refuses to start a run when the tenant already runs `limit` at once. */
async function assertRunSlot(deps: ServiceDeps, tenantId: string, limit: number): Promise<void> {
  const running = await runningCount(deps, tenantId, limit);
  if (running < limit) return;
  deps.logger.log('warn', 'runs.limited', { tenant: tenantId, running, limit });
  throw new ProblemError(429, 'too-many-runs', 'Too many runs',
    `Tenant "${tenantId}" has ${running} runs running, the most it may run at once (concurrentRuns ${limit}), so this run was not started: retry once one of them ends or waits for approval (GET /v1/runs?status=created,running lists them).`,
    { headers: { 'retry-after': '5' } });
}

/** Runs of the tenant started and not yet ended nor waiting for people, counted up to `atMost`. */
async function runningCount(deps: ServiceDeps, tenantId: string, atMost: number): Promise<number> {
  const page = await deps.service.listRuns(tenantId, { status: ['created', 'queued', 'running'], limit: atMost });
  return page.runs.length;
}

const Count = z.object({
  used: z.number().openapi({ description: 'Used in the current window' }),
  limit: z.number().optional().openapi({ description: 'The most allowed in a window; absent when not limited' }),
  remaining: z.number().optional().openapi({ description: 'What is left of the limit in the current window' }),
  resetsAt: z.string().optional().openapi({ description: 'When the current window ends (ISO 8601)' }),
});

const UsageSchema = z
  .object({
    tenant: z.string(),
    requestsPerMinute: Count.openapi({ description: "Requests of all the tenant's keys this minute" }),
    concurrentRuns: Count.openapi({ description: 'Runs created, queued or running now' }),
    tokensPerMinute: Count.openapi({ description: 'Model tokens (input and output) this minute' }),
    usdPerDay: Count.openapi({ description: 'Model spend in US dollars today (UTC)' }),
  })
  .openapi('Usage');

const countOf = (used: number, limit: number | undefined, window: WindowCount | undefined) => ({
  used,
  ...(limit === undefined ? {} : { limit, remaining: Math.max(0, Math.round((limit - used) * 1_000_000) / 1_000_000) }),
  ...(window?.msLeft ? { resetsAt: new Date(window.endsAt).toISOString() } : {}),
});

/** GET /v1/usage: what the caller's tenant used of each limit and what it has left. */
export function usageRoutes(app: OpenAPIHono<ServiceEnv>, deps: ServiceDeps): void {
  app.openapi(
    createRoute({
      method: 'get', path: '/v1/usage', summary: "What your tenant used of its limits, and what it has left", security: [{ bearer: [] }],
      responses: { 200: { description: 'Usage and limits', content: { 'application/json': { schema: UsageSchema } } }, ...problemResponses(...COMMON_PROBLEMS) },
    }),
    async (c) => {
      const { tenantId } = c.get('principal');
      requireScope(c.get('principal'), 'runs:read');
      const quota = deps.limits.quota(tenantId);
      const [requests, running, tokens, usd] = await Promise.all([
        deps.limits.requestsOf(tenantId),
        runningCount(deps, tenantId, 1000),
        deps.limits.tokensOf(tenantId),
        deps.limits.spendOf(tenantId),
      ]);
      return c.json({
        tenant: tenantId,
        requestsPerMinute: countOf(requests.used, quota.requestsPerMinute, requests),
        concurrentRuns: countOf(running, quota.concurrentRuns, undefined),
        tokensPerMinute: countOf(tokens.used, quota.tokensPerMinute, tokens),
        usdPerDay: countOf(usd.used, quota.usdPerDay, usd),
      }, 200);
    },
  );
}
