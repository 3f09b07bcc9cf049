import type { Context, MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import type { Counter, Histogram, Registry } from 'prom-client';
import { importPeer } from '../../importPeer.ts';
import { ENDED_STATUSES } from '../../log/format/record.ts';
import type { RunStore } from '../../log/stores/runStore.ts';
import type { RunEvent } from '../../runtime/runEvents.ts';
import type { RunExecutor } from '../execution/RunExecutor.ts';
import type { Logger } from '../http/jsonLog.ts';
import type { ServiceEnv } from '../http/serviceEnv.ts';
import { INSPECTOR_PATH, inspectorRoute } from '../inspector/inspectorRoutes.ts';
import { TENANT_LABEL } from '../TenantRuns.ts';

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']);
const ENDED = new Set<string>(ENDED_STATUSES);
/** Waiting runs read at most for the approvals gauge. */
const MOST_WAITING = 10_000;

/** Log messages that say a request, run or model call was refused by a limit, and the limit each names. */
const REFUSALS: Record<string, (fields: Record<string, unknown>) => string> = {
  'rate.limited': (fields) => String(fields.limit),
  'runs.limited': () => 'concurrentRuns',
  'quota.refused': (fields) => String(fields.quota),
  'auth.blocked': () => 'authFailures',
};

/** The status the client got: a handler that wrote to the Node response itself (the inspector's) set it there. */
export function answeredStatus(c: Context<ServiceEnv>): number {
  const outgoing = c.env?.outgoing;
  return outgoing?.headersSent ? outgoing.statusCode : c.res.status;
}

/** The route template a request matched (`/v1/runs/:runId`), never its path: ids would make a series each. */
export function routeOf(c: Context): string {
  const route = matchedRoutes(c).findLast((matched) => matched.method !== 'ALL');
  if (!route) return 'unmatched';
  return route.path.startsWith(INSPECTOR_PATH) && route.path.endsWith('*') ? inspectorRoute(new URL(c.req.url).pathname) : route.path;
}

/** What a run's metrics are labelled with, read once from its header. */
interface RunLabels {
  agent: string;
  tenant: string;
}

/**
 * The service's Prometheus metrics, on a registry of its own: HTTP requests by route template, method
 * and status; runs started, ended and in flight; model tokens and cost by tenant; calls waiting for
 * approval; open event streams; refusals by limit; and Node's process metrics.
 */
export class ServiceMetrics {
  readonly registry: Registry;
  readonly #requests: Counter<'method' | 'route' | 'status'>;
  readonly #duration: Histogram<'method' | 'route' | 'status'>;
  readonly #started: Counter<'agent'>;
  readonly #ended: Counter<'agent' | 'status'>;
  readonly #tokens: Counter<'tenant' | 'kind'>;
  readonly #cost: Counter<'tenant'>;
  readonly #refusals: Counter<'limit' | 'tenant'>;
  readonly #running = new Set<string>();
  readonly #labels = new Map<string, Promise<RunLabels>>();
  readonly #pending = new Set<Promise<unknown>>();
  #store: RunStore | undefined;
  #streams: Set<unknown> | undefined;

  /** Loads prom-client (an optional peer) and makes the metrics. */
  static async open(): Promise<ServiceMetrics> {
    const prom = await importPeer(() => import('prom-client'), 'prom-client', 'The service\'s /metrics (metricsToken) needs');
    return new ServiceMetrics(prom);
  }

  private constructor(prom: typeof import('prom-client')) {
    const registry = new prom.Registry();
    this.registry = registry;
    prom.collectDefaultMetrics({ register: registry });
    const registers = [registry];
    const requestLabels = ['method', 'route', 'status'] as const;
    this.#requests = new prom.Counter({ name: 'statecraft_http_requests_total', help: 'HTTP requests answered, by route template, method and status', labelNames: requestLabels, registers });
    this.#duration = new prom.Histogram({ name: 'statecraft_http_request_duration_seconds', help: 'Time to answer an HTTP request (to the first byte of a stream)', labelNames: requestLabels, buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers });
    this.#started = new prom.Counter({ name: 'statecraft_runs_started_total', help: 'Runs the service started (forks included), by agent', labelNames: ['agent'], registers });
    this.#ended = new prom.Counter({ name: 'statecraft_runs_ended_total', help: 'Runs that ended in this instance, by agent and final status', labelNames: ['agent', 'status'], registers });
    this.#tokens = new prom.Counter({ name: 'statecraft_model_tokens_total', help: 'Model tokens used by runs in this instance, by tenant and kind (input, output)', labelNames: ['tenant', 'kind'], registers });
    this.#cost = new prom.Counter({ name: 'statecraft_model_cost_usd_total', help: 'Model cost in US dollars of runs in this instance, by tenant (calls of unknown price count 0)', labelNames: ['tenant'], registers });
    this.#refusals = new prom.Counter({ name: 'statecraft_rate_limit_refusals_total', help: 'Requests, runs and model calls refused by a limit, by limit and tenant', labelNames: ['limit', 'tenant'], registers });
    const running = this.#running;
    new prom.Gauge({ name: 'statecraft_runs_in_flight', help: 'Runs executing in this instance now (a run waiting for people is not)', registers, collect() {
      this.set(running.size);
    } });
    const metrics = this;
    new prom.Gauge({ name: 'statecraft_approvals_waiting', help: 'Tool calls waiting for a decision, by agent', labelNames: ['agent'], registers, async collect() {
      this.reset();
      const store = metrics.#store;
      if (!store) return;
      const counts = new Map<string, number>();
      for (const run of await store.listRuns({ status: ['waiting'], limit: MOST_WAITING })) {
        counts.set(run.agentId, (counts.get(run.agentId) ?? 0) + (Array.isArray(run.waitingOn) ? run.waitingOn.length : 0));
      }
      for (const [agent, count] of counts) this.set({ agent }, count);
    } });
    new prom.Gauge({ name: 'statecraft_streams_open', help: 'Event streams open now (run events, AG-UI, the inspector\'s live view)', registers, collect() {
      this.set(metrics.#streams?.size ?? 0);
    } });
  }

  /** Counts each request by its route template, method and status, and how long it took. */
  readonly middleware: MiddlewareHandler<ServiceEnv> = async (c, next) => {
    const end = this.#duration.startTimer();
    try {
      await next();
    } finally {
      const labels = { method: METHODS.has(c.req.method) ? c.req.method : 'other', route: routeOf(c), status: String(answeredStatus(c)) };
      this.#requests.inc(labels);
      end(labels);
    }
  };

  /** Follows what the service's runs do: started and ended runs, runs in flight, model use; streams open from `streams`. */
  watch(sources: { store: RunStore; subscribe(listener: (event: RunEvent) => void): () => void; streams: Set<unknown> }): () => void {
    this.#store = sources.store;
    this.#streams = sources.streams;
    return sources.subscribe((event) => this.#event(event));
  }

  /** A run the service started (`agent` when known, else read from its header). */
  started(runId: string, agent?: string): void {
    this.#later(agent === undefined ? this.#labelsOf(runId).then((labels) => this.#started.inc({ agent: labels.agent })) : (this.#started.inc({ agent }), undefined));
  }

  /** The executor, its runs counted as they start (a fork's when it is continued). */
  meter(executor: RunExecutor): RunExecutor {
    return {
      agentIds: () => executor.agentIds(),
      start: async (request) => {
        await executor.start(request);
        this.started(request.runId, request.agentId);
      },
      resume: async (runId) => {
        await executor.resume(runId);
        this.started(runId);
      },
      decide: (runId, decision) => executor.decide(runId, decision),
      cancel: (runId, reason) => executor.cancel(runId, reason),
      subscribe: (listener) => executor.subscribe(listener),
      close: (graceMs) => executor.close(graceMs),
    };
  }

  /** A logger that also counts the refusals it is told of. */
  countRefusals(logger: Logger): Logger {
    return {
      log: (level, msg, fields = {}) => {
        const limit = REFUSALS[msg]?.(fields);
        if (limit !== undefined) this.#refusals.inc({ limit, tenant: typeof fields.tenant === 'string' ? fields.tenant : 'none' });
        logger.log(level, msg, fields);
      },
    };
  }

  /** The metrics in Prometheus' text format, once what runs reported so far is counted. */
  async text(): Promise<string> {
    await Promise.allSettled([...this.#pending]);
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  #event(event: RunEvent): void {
    if (event.type === 'end') {
      this.#running.delete(event.runId);
      const status = event.result.status;
      const labels = this.#labelsOf(event.runId);
      this.#labels.delete(event.runId);
      if (ENDED.has(status)) this.#later(labels.then(({ agent }) => this.#ended.inc({ agent, status })));
      return;
    }
    if (event.actor === undefined) this.#running.add(event.runId);
    if (event.type === 'model.answer') {
      const { inputTokens, outputTokens } = event.usage;
      const cost = event.costUsd ?? 0;
      this.#later(this.#labelsOf(event.runId).then(({ tenant }) => {
        this.#tokens.inc({ tenant, kind: 'input' }, inputTokens);
        this.#tokens.inc({ tenant, kind: 'output' }, outputTokens);
        this.#cost.inc({ tenant }, cost);
      }));
    }
  }

  #labelsOf(runId: string): Promise<RunLabels> {
    let labels = this.#labels.get(runId);
    if (!labels) {
      const store = this.#store;
      labels = store
        ? store.header(runId).then((header) => ({ agent: header.agent.id, tenant: header.labels?.[TENANT_LABEL] ?? 'none' }), () => ({ agent: 'unknown', tenant: 'none' }))
        : Promise.resolve({ agent: 'unknown', tenant: 'none' });
      this.#labels.set(runId, labels);
    }
    return labels;
  }

  #later(work: Promise<unknown> | undefined): void {
    if (!work) return;
    const settled = work.catch(() => undefined);
    this.#pending.add(settled);
    void settled.then(() => this.#pending.delete(settled));
  }
}
