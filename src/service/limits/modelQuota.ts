import { UserError } from '../../errors.ts';
import { estimatingCounter } from '../../model/tokenCounter.ts';
import type { BeforeModelCall } from '../../runtime/runOptions.ts';
import type { RunEvent } from '../../runtime/runEvents.ts';
import type { Logger } from '../http/jsonLog.ts';
import type { SharedLimits } from './SharedLimits.ts';

/** A model call refused because its tenant's quota has no room for it; the run fails with it as its reason. */
export class QuotaExceededError extends UserError {}

const seconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

/**
 * What a run of a tenant is started with so that its model calls keep to the tenant's quotas: a check
 * before each call (tokens per minute, dollars per day), and the count of what each answer used.
 * The check estimates the request's input tokens; what is counted is what the provider reported.
 */
export function modelQuota(limits: SharedLimits, tenantId: string, logger: Logger): { beforeModelCall: BeforeModelCall; onEvent: (event: RunEvent) => void } {
  const counter = estimatingCounter();
  // The next call is checked once the last answer is counted.
  let counting: Promise<void> = Promise.resolve();
  return {
    beforeModelCall: async ({ runId, step, actor, messages }) => {
      await counting;
      const quota = limits.quota(tenantId);
      const where = `Run ${runId} (step ${step}${actor ? `, agent ${actor}` : ''})`;
      const fork = `fork the run from its last record (POST /v1/runs/${runId}/fork) to go on`;
      if (quota.tokensPerMinute !== undefined) {
        const { used, msLeft } = await limits.tokensOf(tenantId);
        const needs = counter.request(messages);
        if (used + needs > quota.tokensPerMinute) {
          logger.log('warn', 'quota.refused', { tenant: tenantId, runId, quota: 'tokensPerMinute', used, needs, limit: quota.tokensPerMinute });
          throw new QuotaExceededError(
            `${where} was stopped before its model call: tenant "${tenantId}" used ${used} of its ${quota.tokensPerMinute} model tokens per minute (tokensPerMinute), and this call needs about ${needs} more. The minute ends in ${seconds(msLeft)} s; then ${fork}, or raise the tenant's tokensPerMinute.`,
          );
        }
      }
      if (quota.usdPerDay !== undefined) {
        const { used, msLeft } = await limits.spendOf(tenantId);
        if (used >= quota.usdPerDay) {
          logger.log('warn', 'quota.refused', { tenant: tenantId, runId, quota: 'usdPerDay', used, limit: quota.usdPerDay });
          throw new QuotaExceededError(
            `${where} was stopped before its model call: tenant "${tenantId}" spent $${Number(used.toFixed(6))} of its $${quota.usdPerDay} per day (usdPerDay). The day (UTC) ends in ${seconds(msLeft)} s; then ${fork}, or raise the tenant's usdPerDay.`,
          );
        }
      }
    },
    onEvent: (event) => {
      if (event.type !== 'model.answer') return;
      const tokens = event.usage.inputTokens + event.usage.outputTokens;
      counting = limits.modelUsed(tenantId, tokens, event.costUsd ?? 0).catch((error: unknown) =>
        logger.log('error', 'quota.count_failed', { tenant: tenantId, runId: event.runId, error: { name: (error as Error).name, message: (error as Error).message } }),
      );
    },
  };
}
