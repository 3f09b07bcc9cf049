import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Context, MiddlewareHandler } from 'hono';
import { agentMachine } from '../../../machines/agentMachine.ts';
import { createApi, type InspectorActions } from '../../inspector/inspectorApi.ts';
import { loadPage, PAGE_CSP } from '../../inspector/pageAssets.ts';
import { HttpStatusError, SECURITY_HEADERS } from '../../inspector/sendJson.ts';
import { authGuard, requireScope, type AuthFailures } from '../http/authGuard.ts';
import { requestRate } from '../http/limitRoutes.ts';
import { ProblemError } from '../http/problem.ts';
import type { ServiceDeps } from '../http/serviceDeps.ts';
import type { ServiceEnv } from '../http/serviceEnv.ts';
import { TenantRuns } from '../TenantRuns.ts';
import { inspectorActions } from './inspectorActions.ts';
import { tenantRunStore } from './tenantRunStore.ts';

/** Where the service serves the inspector: the page at /inspector/, its API under /inspector/api/. */
export const INSPECTOR_PATH = '/inspector';
const API_PATH = `${INSPECTOR_PATH}/api/`;

/** Tenants whose inspector API (its caches of drawn diagrams and states) is kept between requests. */
const MOST_TENANTS = 32;

const VERBS = new Set(['history', 'records', 'facets', 'at', 'stream', 'diagram.svg', 'invokers', 'approve', 'reject', 'fork', 'cancel', 'resume']);

/** The route template of an inspector path, for metrics: run ids and seqs become `:runId` and `:seq`. */
export function inspectorRoute(path: string): string {
  if (!path.startsWith(API_PATH)) return `${INSPECTOR_PATH}/*`;
  const [a, b, c, d, e] = path.slice(API_PATH.length).split('/');
  if (a === 'config' && b === undefined) return `${API_PATH}config`;
  if (a === 'machines') return `${API_PATH}machines/:machine`;
  if (a !== 'runs') return `${API_PATH}*`;
  if (b === undefined || b === '') return `${API_PATH}runs`;
  const verb = c === undefined ? '' : VERBS.has(c) ? `/${c}` : '/*';
  const seq = c === 'at' && d !== undefined ? `/:seq${e === 'messages' || e === 'timing' ? `/${e}` : ''}` : '';
  return `${API_PATH}runs/:runId${verb}${seq}`;
}

/**
 * The inspector's API answers its own page only: a request a browser sends from another origin (by its
 * Origin, or Sec-Fetch-Site when it sends none) is refused, reads and actions alike. Requests without
 * either (scripts, curl) pass on to the key check.
 */
function ownOrigin(trustProxy: boolean): MiddlewareHandler<ServiceEnv> {
  return async (c, next) => {
    const origin = c.req.header('origin');
    const site = c.req.header('sec-fetch-site');
    const hosts = [c.req.header('host'), ...(trustProxy ? [c.req.header('x-forwarded-host')?.split(',')[0]?.trim()] : [])].filter(Boolean).map((host) => host!.toLowerCase());
    let own: boolean;
    if (origin === undefined) own = site === undefined || site === 'same-origin' || site === 'none';
    else {
      try {
        own = hosts.includes(new URL(origin).host.toLowerCase());
      } catch {
        own = false;
      }
    }
    if (!own) {
      throw new ProblemError(403, 'cross-origin', 'Cross-origin request refused',
        `The inspector's API answers its own page only, and this ${c.req.method} came from ${origin ?? `a ${site} page`}: open ${INSPECTOR_PATH}/ on this service and act there.`);
    }
    await next();
  };
}

/**
 * Serves the run inspector: its page (public: it holds no data) at /inspector/, and its JSON API under
 * /inspector/api/ behind the same API keys, scopes and request rates as /v1, each tenant seeing its own
 * runs only. The API's handlers are the local inspector's, over a tenant's read-only view of the run
 * store, with the service's own actions; they write to the Node response, so they answer only when the
 * service listens (not through `server.fetch`).
 */
export function inspectorRoutes(app: OpenAPIHono<ServiceEnv>, deps: ServiceDeps, failures: AuthFailures, trustProxy: boolean): void {
  const assets = loadPage({ kind: 'bearer' });
  const machines = { [agentMachine.id]: agentMachine };
  // Without a live channel, the text of runs executing here comes from the executor.
  const live = deps.store.liveChannel ? {} : { live: deps.executor };
  const apis = new Map<string, ReturnType<typeof createApi>>();
  // Every action is the request's own (inspectorActions): these only tell the page which buttons to show.
  const unused = () => Promise.reject(new Error('The served inspector acts with each request\'s own actions.'));
  const placeholder: InspectorActions = { approve: unused, reject: unused, fork: unused, cancel: unused, resume: unused };

  const apiOf = (tenantId: string) => {
    let api = apis.get(tenantId);
    if (api) apis.delete(tenantId);
    else api = createApi({ store: tenantRunStore(deps.store, new TenantRuns(deps.store, deps.service, tenantId)), machines, actions: placeholder, streams: deps.streams, ...live });
    apis.set(tenantId, api);
    if (apis.size > MOST_TENANTS) apis.delete(apis.keys().next().value!);
    return api;
  };

  const asset = (c: Context<ServiceEnv>, name: string) => {
    const found = assets.get(name);
    if (!found) throw new ProblemError(404, 'no-route', 'No such route', `The inspector has no file ${name.slice(0, 100)}: open ${INSPECTOR_PATH}/.`);
    return c.body(found.body, 200, { ...SECURITY_HEADERS, 'content-type': found.type, 'content-security-policy': PAGE_CSP });
  };
  app.get(INSPECTOR_PATH, (c) => c.redirect(`${INSPECTOR_PATH}/`, 308));
  app.get(`${INSPECTOR_PATH}/`, (c) => asset(c, '/index.html'));
  app.get(`${INSPECTOR_PATH}/:file{[A-Za-z]+\\.(?:js|css|html)}`, (c) => asset(c, `/${c.req.param('file')}`));

  app.use(`${API_PATH}*`, ownOrigin(trustProxy));
  app.use(`${API_PATH}*`, authGuard(deps.service, failures, deps.logger));
  app.use(`${API_PATH}*`, requestRate(deps));
  app.on(['GET', 'POST'], `${API_PATH}*`, async (c) => {
    const { incoming, outgoing } = c.env ?? {};
    if (!incoming || !outgoing) {
      throw new ProblemError(501, 'inspector-needs-listener', 'Inspector not served here', 'The inspector\'s API is served by a listening service (server.listen()), not through server.fetch: open /inspector/ on its address.');
    }
    const principal = c.get('principal');
    const url = new URL(c.req.url);
    let parts: string[];
    try {
      parts = url.pathname.slice(API_PATH.length).split('/').filter(Boolean).map(decodeURIComponent);
    } catch {
      throw new ProblemError(400, 'bad-path', 'Bad path', `The path "${url.pathname.slice(0, 200)}" is not validly percent-encoded.`);
    }
    const api = apiOf(principal.tenantId);
    // The handlers write the Node response themselves. Reading `c.res` here would make Hono build another
    // response than RESPONSE_ALREADY_SENT, written a second time: the request id is set on the Node response instead.
    outgoing.setHeader('x-request-id', c.get('requestId'));
    try {
      const answered = c.req.method === 'POST' ? await api.post(incoming, outgoing, parts, inspectorActions(deps, c)) : (requireScope(principal, 'runs:read'), await api.get(outgoing, parts, url.searchParams, incoming));
      if (!answered) throw new ProblemError(404, 'no-route', 'No such route', `No inspector API route ${c.req.method} ${url.pathname.slice(0, 200)}.`);
    } catch (error) {
      if (outgoing.headersSent) {
        outgoing.destroy();
        return RESPONSE_ALREADY_SENT;
      }
      if (error instanceof HttpStatusError) throw new ProblemError(error.status, 'inspector-request', 'Inspector request refused', error.message);
      throw error;
    }
    return RESPONSE_ALREADY_SENT;
  });
}
