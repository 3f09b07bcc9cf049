import { randomUUID } from 'node:crypto';
import { OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { aguiRoutes } from './aguiRoutes.ts';
import { authGuard } from './authGuard.ts';
import { decisionRoutes } from './decisionRoutes.ts';
import { eventRoutes } from './eventRoutes.ts';
import { INSPECTOR_PATH, inspectorRoutes } from '../inspector/inspectorRoutes.ts';
import { answeredStatus } from '../metrics/ServiceMetrics.ts';
import { metricsRoutes } from '../metrics/metricsRoutes.ts';
import { keyRoutes } from './keyRoutes.ts';
import { requestRate, usageRoutes } from './limitRoutes.ts';
import { opsRoutes } from './opsRoutes.ts';
import { problemOf, ProblemError, type Problem } from './problem.ts';
import { runRoutes } from './runRoutes.ts';
import { secretRoutes } from './secretRoutes.ts';
import type { ServiceDeps } from './serviceDeps.ts';
import type { ServiceEnv } from './serviceEnv.ts';

export interface AppOptions {
  allowedOrigins: string[];
  bodyLimitBytes: number;
  authFailures: { max: number; windowMs: number };
  trustProxy: boolean;
  /** Whether the service is shutting down: readiness fails and new requests are refused. */
  draining: () => boolean;
  /** Checks the stores answer, for /readyz. */
  ready: () => Promise<void>;
  /** Serve the inspector at /inspector/. */
  inspector: boolean;
  /** The token GET /metrics needs; with `deps.metrics`. */
  metricsToken?: string;
}

/** A problem answer made through the context, so that the headers set before the error (CORS, request id) stay on it. */
const problemResponse = (c: Context<ServiceEnv>, problem: Problem & { headers?: Record<string, string> }) => {
  const { headers, ...body } = problem;
  return c.body(JSON.stringify(body), body.status as ContentfulStatusCode, { ...headers, 'content-type': 'application/problem+json' });
};

const ALLOWED_HEADERS = 'authorization, content-type, last-event-id';

/**
 * The service's HTTP application: every route, its OpenAPI document at /openapi.json, and the
 * checks every request passes (origin, body size, API key), with errors as problem+json.
 */
export function createApp(deps: ServiceDeps, options: AppOptions): OpenAPIHono<ServiceEnv> {
  const app = new OpenAPIHono<ServiceEnv>({
    defaultHook: (result, c) => {
      if (result.success) return;
      const issues = result.error.issues.map((issue) => ({ path: issue.path.join('.') || '(root)', message: issue.message }));
      const where = `${c.req.method} ${new URL(c.req.url).pathname}`;
      const first = issues[0];
      throw new ProblemError(400, 'invalid-request', 'Invalid request', `${where} was refused: at ${first?.path}: ${first?.message}. See the request's schema in /openapi.json.`, { issues });
    },
  });
  const failures = { limits: deps.limits, ...options.authFailures };

  if (deps.metrics) app.use('*', deps.metrics.middleware);
  app.use('*', async (c, next) => {
    const started = performance.now();
    const requestId = randomUUID();
    c.set('requestId', requestId);
    const forwarded = options.trustProxy ? c.req.header('x-forwarded-for')?.split(',').at(-1)?.trim() : undefined;
    c.set('client', forwarded || (c.env?.incoming?.socket?.remoteAddress ?? 'unknown'));
    c.header('x-request-id', requestId);
    try {
      await next();
    } finally {
      const principal = c.get('principal');
      deps.logger.log(answeredStatus(c) >= 500 ? 'error' : 'info', 'request', {
        requestId,
        method: c.req.method,
        path: new URL(c.req.url).pathname,
        status: answeredStatus(c),
        ms: Math.round((performance.now() - started) * 10) / 10,
        client: c.get('client'),
        ...(principal ? { tenant: principal.tenantId, keyId: principal.key.keyId } : {}),
      });
    }
  });

  // A browser page may call the API only from an origin the service was told to allow; requests with
  // no Origin (servers, curl) are not browsers' and pass on to the key check. The inspector's page is
  // the service's own: its API answers that page only (see inspectorRoutes).
  app.use('*', async (c, next) => {
    const origin = c.req.header('origin');
    const path = new URL(c.req.url).pathname;
    if (origin !== undefined && !(options.inspector && (path === INSPECTOR_PATH || path.startsWith(`${INSPECTOR_PATH}/`)))) {
      if (!options.allowedOrigins.includes(origin)) {
        throw new ProblemError(403, 'origin-not-allowed', 'Origin not allowed', `Requests from the origin "${origin.slice(0, 200)}" are not allowed: start the service with --allowed-origin ${origin.slice(0, 200)} to let pages there call it.`);
      }
      c.header('access-control-allow-origin', origin);
      c.header('vary', 'Origin');
      c.header('access-control-expose-headers', 'location, x-request-id, retry-after');
      if (c.req.method === 'OPTIONS') {
        c.header('access-control-allow-methods', 'GET, POST, PUT, DELETE');
        c.header('access-control-allow-headers', ALLOWED_HEADERS);
        c.header('access-control-max-age', '600');
        return c.body(null, 204);
      }
    }
    if (options.draining() && !['/healthz', '/readyz'].includes(path)) {
      throw new ProblemError(503, 'shutting-down', 'Shutting down', 'This instance is shutting down: retry the request, which will reach another instance.', { headers: { 'retry-after': '1', connection: 'close' } });
    }
    await next();
  });

  app.use(
    '/v1/*',
    bodyLimit({
      maxSize: options.bodyLimitBytes,
      onError: () => {
        throw new ProblemError(413, 'body-too-large', 'Body too large', `The request body is larger than ${options.bodyLimitBytes} bytes, the most this service accepts: send less (the service's --body-limit sets it).`,
          // The rest of the body is not read: the connection is not reused for another request.
          { headers: { connection: 'close' } });
      },
    }),
  );
  app.use('/v1/*', authGuard(deps.service, failures, deps.logger));
  app.use('/v1/*', requestRate(deps));

  opsRoutes(app, options);
  runRoutes(app, deps);
  decisionRoutes(app, deps);
  eventRoutes(app, deps);
  keyRoutes(app, deps);
  secretRoutes(app, deps);
  usageRoutes(app, deps);
  aguiRoutes(app, deps);
  if (options.inspector) inspectorRoutes(app, deps, failures, options.trustProxy);
  if (deps.metrics && options.metricsToken) metricsRoutes(app, deps.metrics, options.metricsToken, failures, deps.logger);

  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer', description: 'An API key from `statecraft keys create`' });
  // Made once, on first request: generating it walks every route's schemas (hundreds of milliseconds).
  let document: unknown;
  app.get('/openapi.json', (c) => {
    document ??= app.getOpenAPI31Document({ openapi: '3.1.0', info: { title: 'Statecraft service', version: '1', description: 'Start, follow and decide agent runs; every error is an RFC 9457 problem document.' } });
    return c.json(document as object);
  });

  app.notFound((c) =>
    problemResponse(c, { type: 'https://statecraft.dev/problems/no-route', title: 'No such route', status: 404, detail: `No route ${c.req.method} ${new URL(c.req.url).pathname}: see the routes in /openapi.json.`, instance: new URL(c.req.url).pathname }),
  );
  app.onError((error, c) => {
    const instance = new URL(c.req.url).pathname;
    if (error instanceof HTTPException && !(error instanceof ProblemError)) {
      // Hono's own refusals (a body that is not JSON) keep their status, worded as ours are.
      if (error.status === 415) {
        const sent = c.req.header('content-type') ?? 'no content-type';
        const detail = `The request body was sent as ${sent}, and this route takes JSON: send it with content-type application/json (curl: -H 'content-type: application/json').`;
        return problemResponse(c, { type: 'https://statecraft.dev/problems/unsupported-media-type', title: 'Unsupported media type', status: 415, detail, instance });
      }
      const malformed = /JSON/i.test(error.message);
      const detail = malformed ? `The request body is not valid JSON (${error.message}): send a JSON object with content-type application/json.` : error.message;
      return problemResponse(c, { type: `https://statecraft.dev/problems/${malformed ? 'malformed-json' : 'http'}`, title: malformed ? 'Malformed JSON' : 'Bad request', status: error.status, detail, instance });
    }
    const problem = problemOf(error, instance);
    if (problem.status >= 500) deps.logger.log('error', 'request.failed', { requestId: c.get('requestId'), path: instance, error: { name: (error as Error).name, message: (error as Error).message, stack: (error as Error).stack } });
    return problemResponse(c, problem);
  });
  return app;
}
