import { createHash, timingSafeEqual } from 'node:crypto';
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { AuthFailures } from '../http/authGuard.ts';
import type { Logger } from '../http/jsonLog.ts';
import { ProblemError } from '../http/problem.ts';
import type { ServiceEnv } from '../http/serviceEnv.ts';
import type { ServiceMetrics } from './ServiceMetrics.ts';

const digest = (text: string) => createHash('sha256').update(text).digest();

/**
 * GET /metrics in Prometheus' text format, for the service's operator: it needs the `metricsToken` of
 * the service's configuration as a Bearer token, not a tenant's API key, because the metrics span every
 * tenant. Failed attempts count with failed API keys against the client.
 */
export function metricsRoutes(app: OpenAPIHono<ServiceEnv>, metrics: ServiceMetrics, token: string, failures: AuthFailures, logger: Logger): void {
  const expected = digest(token);
  app.get('/metrics', async (c) => {
    const client = c.get('client');
    const counted = await failures.limits.failuresOf(client);
    if (counted.used >= failures.max && counted.msLeft > 0) {
      const retryAfter = String(Math.ceil(counted.msLeft / 1000));
      throw new ProblemError(429, 'too-many-failed-authentications', 'Too many failed authentications',
        `This client sent ${failures.max} requests with a missing or invalid credential within ${failures.windowMs / 1000} s, so its requests are refused for ${retryAfter} s.`, { headers: { 'retry-after': retryAfter } });
    }
    const given = /^Bearer\s+(\S+)\s*$/i.exec(c.req.header('authorization') ?? '')?.[1];
    // Compared as digests: equal lengths, in constant time, whatever was sent.
    if (given === undefined || !timingSafeEqual(digest(given), expected)) {
      const { used } = await failures.limits.failed(client);
      logger.log('warn', 'metrics.refused', { requestId: c.get('requestId'), client, reason: given === undefined ? 'missing' : 'wrong', failures: used });
      throw new ProblemError(401, 'metrics-token', 'Not authenticated',
        `GET /metrics needs the service's metrics token (its metricsToken setting, or STATECRAFT_METRICS_TOKEN) as "Authorization: Bearer <token>"; ${given === undefined ? 'none was sent' : 'the one sent is not it'}. API keys are not accepted here: the metrics span every tenant.`,
        { headers: { 'www-authenticate': 'Bearer realm="statecraft-metrics"' } });
    }
    return c.body(await metrics.text(), 200, { 'content-type': metrics.contentType, 'cache-control': 'no-store' });
  });
}
