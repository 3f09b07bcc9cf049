import type { Context } from 'hono';
import type { RunStore } from '../../log/stores/runStore.ts';
import type { RunExecutor } from '../execution/RunExecutor.ts';
import type { SharedLimits } from '../limits/SharedLimits.ts';
import type { ServiceMetrics } from '../metrics/ServiceMetrics.ts';
import type { SecretVault } from '../secrets/SecretVault.ts';
import type { ServiceStore } from '../store/ServiceStore.ts';
import { TenantRuns } from '../TenantRuns.ts';
import type { Logger } from './jsonLog.ts';
import type { ServiceEnv } from './serviceEnv.ts';

/** What the routes are built from. */
export interface ServiceDeps {
  store: RunStore;
  service: ServiceStore;
  executor: RunExecutor;
  logger: Logger;
  /** Request rates, concurrent runs and model quotas, counted across instances. */
  limits: SharedLimits;
  /** The tenants' secrets, encrypted at rest. */
  vault: SecretVault;
  separationOfDuties: boolean;
  /** Open event streams, ended on shutdown so that clients reconnect elsewhere. */
  streams: Set<() => void>;
  /** How often a stream looks for new records when nothing wakes it (another process may write the run). */
  pollMs: number;
  /** Prometheus metrics, when the service has a metrics token. */
  metrics?: ServiceMetrics;
}

/** The runs of the caller's tenant: the routes' one way to the run store. */
export const tenantRuns = (deps: ServiceDeps, c: Context<ServiceEnv>): TenantRuns => new TenantRuns(deps.store, deps.service, c.get('principal').tenantId);
