import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { AppOptions } from './createApp.ts';
import type { ServiceEnv } from './serviceEnv.ts';

const Health = z.object({ status: z.enum(['ok', 'unavailable']), detail: z.string().optional() }).openapi('Health');

/** /healthz (the process answers) and /readyz (it can serve: stores answer, not shutting down); no key needed. */
export function opsRoutes(app: OpenAPIHono<ServiceEnv>, options: Pick<AppOptions, 'draining' | 'ready'>): void {
  app.openapi(createRoute({ method: 'get', path: '/healthz', summary: 'Liveness', responses: { 200: { description: 'Alive', content: { 'application/json': { schema: Health } } } } }), (c) =>
    c.json({ status: 'ok' as const }, 200),
  );
  app.openapi(
    createRoute({
      method: 'get', path: '/readyz', summary: 'Readiness: the stores answer and the instance is not shutting down',
      responses: { 200: { description: 'Ready', content: { 'application/json': { schema: Health } } }, 503: { description: 'Not ready', content: { 'application/json': { schema: Health } } } },
    }),
    async (c) => {
      if (options.draining()) return c.json({ status: 'unavailable' as const, detail: 'shutting down' }, 503);
      try {
        await options.ready();
        return c.json({ status: 'ok' as const }, 200);
      } catch (error) {
        return c.json({ status: 'unavailable' as const, detail: `a store does not answer: ${(error as Error).name}` }, 503);
      }
    },
  );
}
