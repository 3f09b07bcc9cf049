import { z } from 'zod';

const count = z.number().int().positive();

/** One tenant's limits; a limit left out is not enforced. */
export const QuotaSchema = z.strictObject({
  /** Requests a tenant's keys together may make per minute. */
  requestsPerMinute: count.optional(),
  /** Requests one key may make per minute. */
  keyRequestsPerMinute: count.optional(),
  /** Runs of the tenant that may be running (created or running, not waiting for people) at once. */
  concurrentRuns: count.optional(),
  /** Model tokens (input and output) the tenant's runs may use per minute. */
  tokensPerMinute: count.optional(),
  /** US dollars the tenant's model calls may cost per day (UTC). */
  usdPerDay: z.number().positive().max(2_000).optional(),
});
export type Quota = z.infer<typeof QuotaSchema>;

/** The service's limits: one quota for every tenant, and overrides for some, by tenant id. */
export const LimitsSchema = QuotaSchema.extend({
  tenants: z.record(z.string().min(1), QuotaSchema).default({}),
}).default({ tenants: {} });
export type Limits = z.infer<typeof LimitsSchema>;

/** Names of the limits as flags and environment variables take them. */
export const LIMIT_SETTINGS: { key: keyof Quota; flag: string; env: string }[] = [
  { key: 'requestsPerMinute', flag: 'requests-per-minute', env: 'STATECRAFT_REQUESTS_PER_MINUTE' },
  { key: 'keyRequestsPerMinute', flag: 'key-requests-per-minute', env: 'STATECRAFT_KEY_REQUESTS_PER_MINUTE' },
  { key: 'concurrentRuns', flag: 'concurrent-runs', env: 'STATECRAFT_CONCURRENT_RUNS' },
  { key: 'tokensPerMinute', flag: 'tokens-per-minute', env: 'STATECRAFT_TOKENS_PER_MINUTE' },
  { key: 'usdPerDay', flag: 'usd-per-day', env: 'STATECRAFT_USD_PER_DAY' },
];

/** The quota that applies to a tenant: its overrides over the service's defaults. */
export function quotaOf(limits: Limits, tenantId: string): Quota {
  const { tenants, ...defaults } = limits;
  return { ...defaults, ...tenants[tenantId] };
}
