import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdaptorServer } from '@hono/node-server';
import { UserError } from '../errors.ts';
import { openStore } from '../log/stores/openStore.ts';
import type { RunStore } from '../log/stores/runStore.ts';
import type { Agent } from '../runtime/defineAgent.ts';
import { InProcessExecutor, type LoadedAgent, type RunOptionsFor } from './execution/InProcessExecutor.ts';
import type { RunExecutor } from './execution/RunExecutor.ts';
import { createApp } from './http/createApp.ts';
import { jsonLogger, type Logger } from './http/jsonLog.ts';
import type { ServiceDeps } from './http/serviceDeps.ts';
import { modelQuota } from './limits/modelQuota.ts';
import type { MasterKeys } from './secrets/envelope.ts';
import { loadMasterKeys } from './secrets/masterKeys.ts';
import { SecretVault } from './secrets/SecretVault.ts';
import { SharedLimits } from './limits/SharedLimits.ts';
import { ServiceMetrics } from './metrics/ServiceMetrics.ts';
import { ServiceConfigSchema, type ServiceConfig } from './serviceConfig.ts';
import { openServiceStore } from './store/openServiceStore.ts';
import type { ServiceStore } from './store/ServiceStore.ts';
import { TENANT_LABEL } from './TenantRuns.ts';

export interface CreateServerOptions extends Partial<Omit<ServiceConfig, 'agents'>> {
  /** The agents served: defined in code, or loaded from modules (`statecraft serve --agents`). */
  agents: (Agent | LoadedAgent)[];
  /**
   * Where runs execute; in this process by default. `optionsFor` gives a run, from its header's
   * labels, the options that keep its model calls to its tenant's quotas and give its tools its
   * tenant's secrets: pass them to its start and resume.
   */
  executor?: (store: RunStore, optionsFor: RunOptionsFor) => RunExecutor;
  /** Where JSON log lines go (default: stdout). */
  log?: (line: string) => void;
  /** How often an event stream looks for records another process wrote (default 250 ms). */
  pollMs?: number;
  /**
   * The master keys of tenants' secrets; by default loaded from `masterKeyFile`, else
   * STATECRAFT_MASTER_KEY and STATECRAFT_MASTER_KEY_PREVIOUS (see `loadMasterKeys`). Without one,
   * setting a secret is refused.
   */
  masterKeys?: MasterKeys;
}

/** A service made by `createServer`: listen on a port, or hand `fetch` to another server. */
export interface StatecraftServer {
  readonly config: Omit<ServiceConfig, 'agents'>;
  fetch(request: Request): Response | Promise<Response>;
  /** Starts listening (on `config.port`, 0 picks a free one) and resolves with the address. */
  listen(): Promise<{ url: string; port: number }>;
  /**
   * Stops gracefully: readiness fails, open event streams end (clients reconnect elsewhere with
   * Last-Event-ID), requests in flight finish, runs get `shutdownGraceMs` to end, then the stores close.
   */
  close(): Promise<void>;
}

const isLoaded = (agent: Agent | LoadedAgent): agent is LoadedAgent => 'agent' in agent && !('machine' in agent);

/**
 * Makes the hosted agent service: the HTTP API over the run store, with API keys and tenants.
 * @example
 * const server = await createServer({ agents: [supportAgent], store: 'sqlite:runs.db', port: 8080 });
 * const { url } = await server.listen();
 */
export async function createServer(options: CreateServerOptions): Promise<StatecraftServer> {
  const { agents, executor: makeExecutor, log, pollMs, masterKeys, ...settings } = options;
  const parsed = ServiceConfigSchema.omit({ agents: true }).safeParse(settings);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new UserError(`createServer got an invalid option ${issue.path.join('.')}: ${issue.message}.`);
  }
  const config = parsed.data;
  if (!agents.length) throw new UserError('createServer needs at least one agent to serve: pass agents: [myAgent].');
  const keys = masterKeys ?? loadMasterKeys({ env: process.env, file: config.masterKeyFile });
  const metrics = config.metricsToken === undefined ? undefined : await ServiceMetrics.open();
  const logged: Logger = jsonLogger(config.logLevel, log);
  const logger = metrics ? metrics.countRefusals(logged) : logged;
  const store = openStore(config.store);
  let service: ServiceStore | undefined;
  let limits: SharedLimits | undefined;
  try {
    // The run store's tables first: the service's listing joins them.
    await store.listRuns({ limit: 1 });
    service = openServiceStore(config.store);
    await service.ping();
    limits = await SharedLimits.open(config.store, config.limits, config.authFailures);
  } catch (error) {
    await limits?.close();
    await service?.close();
    await store.close();
    throw error;
  }
  const quotas = limits;
  const vault = new SecretVault(service, keys);
  // A run of a tenant reads that tenant's secrets, and no other's, before the agent's own credentials.
  const optionsFor: RunOptionsFor = (labels) => {
    const tenant = labels[TENANT_LABEL];
    return tenant === undefined ? {} : { ...modelQuota(quotas, tenant, logger), credentials: vault.credentials(tenant) };
  };
  const made = makeExecutor ? makeExecutor(store, optionsFor) : new InProcessExecutor(store, agents.map((agent) => (isLoaded(agent) ? agent : { agent })), optionsFor);
  const executor = metrics ? metrics.meter(made) : made;
  const deps: ServiceDeps = { store, service, executor, logger, limits, vault, separationOfDuties: config.separationOfDuties, streams: new Set(), pollMs: pollMs ?? 250, ...(metrics ? { metrics } : {}) };
  const unwatch = metrics?.watch({ store, subscribe: (listener) => executor.subscribe(listener), streams: deps.streams });
  let draining = false;
  const ready = async () => {
    await Promise.all([store.listRuns({ limit: 1 }), deps.service.ping()]);
  };
  const app = createApp(deps, {
    allowedOrigins: config.allowedOrigins, bodyLimitBytes: config.bodyLimitBytes, authFailures: config.authFailures, trustProxy: config.trustProxy, draining: () => draining, ready,
    inspector: config.inspector, ...(config.metricsToken ? { metricsToken: config.metricsToken } : {}),
  });
  let server: Server | undefined;
  let closing: Promise<void> | undefined;

  const close = async () => {
    draining = true;
    logger.log('info', 'service.stopping', { streams: deps.streams.size });
    for (const stop of [...deps.streams]) stop();
    if (server) {
      const http = server;
      const stopped = new Promise<void>((resolve) => http.close(() => resolve()));
      http.closeIdleConnections();
      const force = setTimeout(() => http.closeAllConnections(), config.shutdownGraceMs);
      await stopped;
      clearTimeout(force);
    }
    await executor.close(config.shutdownGraceMs);
    unwatch?.();
    await deps.limits.close();
    await deps.service.close();
    await store.close();
    logger.log('info', 'service.stopped', {});
  };

  return {
    config,
    fetch: (request) => app.fetch(request),
    listen: () =>
      new Promise((resolve, reject) => {
        const http = createAdaptorServer({ fetch: app.fetch }) as Server;
        server = http;
        http.once('error', (error: NodeJS.ErrnoException) => {
          server = undefined;
          if (error.code === 'EADDRINUSE' || error.code === 'EACCES' || error.code === 'EADDRNOTAVAIL') {
            const why = error.code === 'EADDRINUSE' ? 'is in use' : error.code === 'EACCES' ? 'is not allowed to this user' : 'is not an address of this machine';
            reject(new UserError(`Cannot listen on ${config.host}:${config.port}: it ${why}. Pick another with --port (0 picks a free one) or --host.`, { cause: error }));
          } else reject(error);
        });
        http.listen(config.port, config.host, () => {
          const { port } = http.address() as AddressInfo;
          const host = config.host.includes(':') ? `[${config.host}]` : config.host;
          const url = `http://${host}:${port}`;
          logger.log('info', 'service.listening', { url, agents: executor.agentIds(), masterKeyIds: keys?.ids ?? [] });
          resolve({ url, port });
        });
      }),
    close: () => (closing ??= close()),
  };
}
