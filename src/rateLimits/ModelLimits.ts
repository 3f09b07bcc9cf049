import { delay } from '../delay.ts';
import { CancelledError, UserError } from '../errors.ts';
import type { PostgresStore } from '../log/stores/postgres/postgresStore.ts';
import { estimatingCounter } from '../model/tokenCounter.ts';
import type { Message, Usage } from '../protocol/messages.ts';
import type { ModelInfo, ModelPacing } from '../protocol/model.ts';
import { memoryBackend, postgresBackend, sqliteBackend, type LimitBackend } from './limitBackends.ts';
import {
  checkModelLimits,
  DEFAULT_MAX_WAIT_MS,
  limitsOf,
  modelEndpoint,
  ModelRateLimitError,
  spoken,
  type EndpointRateLimits,
  type ModelLimitsOptions,
  type ModelLimitWait,
} from './modelLimitsConfig.ts';

/** A model call let through by its endpoint's limits: how long it waited, its pacing for retries, and the count of what it used. */
export interface PacedCall {
  readonly endpoint: string;
  /** Milliseconds this call has waited for its endpoint's limits so far, retries included. */
  readonly waitedMs: number;
  readonly pacing: ModelPacing;
  /** Corrects the endpoint's token count from the estimate to what the provider reported. */
  settle(usage: Usage): Promise<void>;
}

/** Where `openModelLimits` keeps its counts: this process, a SQLite file, or a PostgreSQL store's schema. */
export type ModelLimitsStore = PostgresStore | string;

/** How a wait is told when it would pass the cap: what it waits for, and what to raise. */
function tooLong(endpoint: string, reason: ModelLimitWait['reason'], limits: EndpointRateLimits, ms: number, maxWaitMs: number): ModelRateLimitError {
  const what =
    reason === 'blocked'
      ? 'the block its provider asked for with a 429 (Retry-After); the block holds for every process sharing these limits'
      : reason === 'requestsPerMinute'
        ? `its limit of ${limits.requestsPerMinute} requests per minute (requestsPerMinute), shared by every process that uses these limits`
        : `its limit of ${limits.tokensPerMinute} tokens per minute (tokensPerMinute), shared by every process that uses these limits`;
  const fix =
    reason === 'blocked'
      ? 'Try again later, lower how many runs call this endpoint at once (the workers\' concurrency), or raise maxWaitMs.'
      : `Raise ${reason} for this endpoint if the provider allows more (statecraft worker --model-${reason === 'requestsPerMinute' ? 'rpm' : 'tpm'}, or modelLimits in code), run fewer runs at once, or raise maxWaitMs.`;
  return new ModelRateLimitError(
    `Model call to ${endpoint} would wait ${spoken(ms)} more for ${what}, past the longest wait allowed (maxWaitMs ${spoken(maxWaitMs)}). ${fix}`,
    endpoint,
  );
}

/**
 * Rate limits of model endpoints (requests and tokens per minute), counted together by every process
 * that opens them on the same store, and the back-off a 429 asks for, which every such process then
 * keeps. A call over a limit waits for the next window; made by `openModelLimits`.
 */
export class ModelLimits {
  readonly #options: ModelLimitsOptions;
  readonly #backend: LimitBackend;
  readonly #maxWaitMs: number;
  readonly #counter = estimatingCounter();

  /** Use `openModelLimits`. */
  constructor(options: ModelLimitsOptions, backend: LimitBackend) {
    this.#options = options;
    this.#backend = backend;
    this.#maxWaitMs = options.maxWaitMs ?? DEFAULT_MAX_WAIT_MS;
  }

  /** Milliseconds until the endpoint's shared block ends (0 when it is not blocked). */
  blockedMs(endpoint: string): Promise<number> {
    return this.#backend.blockedMs(endpoint);
  }

  /**
   * Waits until the endpoint of `model` has room for a request of `messages` (no block, a request and
   * the request's estimated tokens left in this minute's window), then counts it. Rejects with
   * ModelRateLimitError when the wait would pass `maxWaitMs`, with CancelledError when `signal` aborts.
   */
  async acquire(model: ModelInfo, messages: readonly Message[], signal?: AbortSignal): Promise<PacedCall> {
    const endpoint = modelEndpoint(model);
    const limits = limitsOf(this.#options, endpoint, model.model);
    const estimate = limits.tokensPerMinute === undefined ? 0 : this.#counter.request(messages);
    if (limits.tokensPerMinute !== undefined && estimate > limits.tokensPerMinute) {
      throw new ModelRateLimitError(
        `Model call to ${endpoint} needs about ${estimate} input tokens, more than its whole limit of ${limits.tokensPerMinute} tokens per minute (tokensPerMinute): no minute could hold it. ` +
          'Raise tokensPerMinute for this endpoint, or give the agent a smaller context window.',
        endpoint,
      );
    }
    const spent = { ms: 0 };
    await this.#pass(endpoint, limits, estimate, spent, signal);
    const backend = this.#backend;
    const counter = this.#counter;
    return {
      endpoint,
      get waitedMs() {
        return Math.round(spent.ms);
      },
      pacing: {
        beforeRetry: (retrySignal) => this.#pass(endpoint, limits, 0, spent, retrySignal ?? signal),
        rateLimited: async (retryAfterMs) => void (await backend.block(endpoint, retryAfterMs)),
      },
      settle: async (usage) => {
        if (usage.inputTokens > 0) counter.observe(messages, usage.inputTokens);
        if (limits.tokensPerMinute === undefined) return;
        const correction = usage.inputTokens + usage.outputTokens - estimate;
        if (correction !== 0) await backend.add('tpm', endpoint, correction);
      },
    };
  }

  /** Waits out the block and the windows until a request (and `tokens`) fits, and counts it. */
  async #pass(endpoint: string, limits: EndpointRateLimits, tokens: number, spent: { ms: number }, signal: AbortSignal | undefined): Promise<void> {
    const { requestsPerMinute: rpm, tokensPerMinute: tpm } = limits;
    for (;;) {
      if (signal?.aborted) throw cancelled(endpoint);
      const blocked = await this.#backend.blockedMs(endpoint);
      if (blocked > 0) {
        await this.#wait(endpoint, 'blocked', limits, blocked, spent, signal);
        continue;
      }
      if (rpm !== undefined) {
        const requests = await this.#backend.add('rpm', endpoint, 1);
        if (requests.used > rpm) {
          await this.#backend.add('rpm', endpoint, -1);
          await this.#wait(endpoint, 'requestsPerMinute', limits, requests.msLeft, spent, signal);
          continue;
        }
      }
      if (tpm !== undefined && tokens > 0) {
        const used = await this.#backend.add('tpm', endpoint, tokens);
        if (used.used > tpm) {
          await this.#backend.add('tpm', endpoint, -tokens);
          if (rpm !== undefined) await this.#backend.add('rpm', endpoint, -1);
          await this.#wait(endpoint, 'tokensPerMinute', limits, used.msLeft, spent, signal);
          continue;
        }
      }
      return;
    }
  }

  async #wait(endpoint: string, reason: ModelLimitWait['reason'], limits: EndpointRateLimits, ms: number, spent: { ms: number }, signal: AbortSignal | undefined): Promise<void> {
    // Past the end by a little: a window that ends now would be read again at once, and a timer may fire a millisecond early.
    const delayMs = Math.max(5, Math.ceil(ms) + 2);
    if (spent.ms + delayMs > this.#maxWaitMs) throw tooLong(endpoint, reason, limits, delayMs, this.#maxWaitMs);
    try {
      this.#options.onWait?.({ endpoint, reason, delayMs });
    } catch {
      // A listener's failure is not the call's.
    }
    const started = performance.now();
    const waited = await delay(delayMs, signal);
    spent.ms += performance.now() - started;
    if (!waited) throw cancelled(endpoint);
  }

  /** Lets go of the store's connections or the file (not a PostgresStore it was given). */
  close(): Promise<void> {
    return this.#backend.close();
  }
}

const cancelled = (endpoint: string) => new CancelledError(`Model call to ${endpoint} was cancelled while it waited for the endpoint's rate limits.`);

/**
 * Opens rate limits of model endpoints, for `startRun({ modelLimits })` (workers open them with the
 * `modelLimits` option of `startWorker`). Without `store` they hold in this process; with a SQLite file
 * path, in every process that opens that file; with a PostgresStore or a postgres:// URL (`?schema=`),
 * in every process and machine on that database. Needs the rate-limiter-flexible package.
 * @example
 * const modelLimits = await openModelLimits({ requestsPerMinute: 500, tokensPerMinute: 200_000 }, 'postgres://localhost/app');
 * const run = startRun(agent, { input: 'Hi', modelLimits });
 */
export async function openModelLimits(options: ModelLimitsOptions, store?: ModelLimitsStore): Promise<ModelLimits> {
  checkModelLimits(options);
  if (store === undefined) return new ModelLimits(options, await memoryBackend());
  if (typeof store !== 'string') return new ModelLimits(options, await postgresBackend(store));
  if (/^postgres(ql)?:\/\//.test(store)) {
    const { PostgresStore } = await import('../log/stores/postgres/postgresStore.ts');
    const parsed = new URL(store);
    const schema = parsed.searchParams.get('schema') ?? undefined;
    parsed.searchParams.delete('schema');
    const own = new PostgresStore({ connectionString: parsed.toString(), ...(schema === undefined ? {} : { schema }) });
    try {
      const backend = await postgresBackend(own);
      return new ModelLimits(options, { ...backend, close: () => own.close() });
    } catch (error) {
      await own.close().catch(() => {});
      throw error;
    }
  }
  if (store === '' || store.startsWith('memory:')) throw new UserError(`openModelLimits: the store "${store}" is neither a SQLite file path nor a postgres:// URL. Leave it out to keep the limits in this process.`);
  return new ModelLimits(options, await sqliteBackend(store.startsWith('sqlite:') ? store.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '') : store));
}
