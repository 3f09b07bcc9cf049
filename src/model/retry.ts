import { delay } from '../delay.ts';
import { CancelledError, ModelCallError } from '../errors.ts';
import type { ModelPacing } from '../protocol/model.ts';

/** How model calls are retried; `random` and `sleep` let tests control time. */
export interface RetryOptions {
  maxRetries?: number;
  baseDelayMs?: number;
  /** Cap on our own backoff (default 30 s). */
  maxDelayMs?: number;
  /** The longest wait a server may ask for with Retry-After (default 5 minutes); a longer one fails the call. */
  maxRetryAfterMs?: number;
  random?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/** Anything with a case-insensitive `get`, such as a fetch `Headers`. */
export interface HeaderLookup {
  get(name: string): string | null;
}

/**
 * How an attempt failed: an HTTP error status, the network, our timeout, or `malformed` when the server
 * answered but not in the API's shape (a web page, a body without choices), which no retry would fix.
 */
export type FailureKind = 'http' | 'network' | 'timeout' | 'malformed';

/** One failed attempt, described without provider types so the retry policy stays provider-neutral. */
export class AttemptFailure extends Error {
  readonly kind: FailureKind;
  readonly status: number | undefined;
  readonly headers: HeaderLookup | undefined;
  constructor(kind: FailureKind, message: string, options: { status?: number; headers?: HeaderLookup } = {}) {
    super(message);
    this.name = 'AttemptFailure';
    this.kind = kind;
    this.status = options.status;
    this.headers = options.headers;
  }
}

/** Where a call goes, for error messages; secrets are scrubbed from every message. */
export interface CallTarget {
  baseURL: string;
  model: string;
  secrets?: readonly string[];
}

/** What a listener hears before a retry: the attempt about to start, why the last one failed, and the wait. */
export interface RetryNotice {
  attempt: number;
  delayMs: number;
  reason: string;
}

export interface RetryCallOptions {
  retry?: RetryOptions;
  timeoutMs: number;
  signal?: AbortSignal;
  target: CallTarget;
  /** Called before each wait for a retry; whatever the failed attempt streamed is to be discarded. */
  onRetry?: (notice: RetryNotice) => void;
  /** Shared rate limits of the endpoint: told of each 429, and asked before each retry. */
  pacing?: ModelPacing;
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_SOCKET']);

/** True for the statuses worth retrying: 408, 409, 429 and 5xx. */
export const isRetryableStatus = (status: number): boolean =>
  status === 408 || status === 409 || status === 429 || status >= 500;

/** The delay a response asks for through `retry-after-ms` or `Retry-After` (seconds or HTTP date), if any. */
export function retryAfterMs(headers: HeaderLookup | undefined, now = Date.now()): number | undefined {
  if (!headers) return undefined;
  const ms = headers.get('retry-after-ms');
  if (ms !== null && ms.trim() !== '' && Number.isFinite(Number(ms)) && Number(ms) >= 0) return Number(ms);
  const value = headers.get('retry-after');
  if (value === null || value.trim() === '') return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return seconds >= 0 ? seconds * 1000 : undefined;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

const DEFAULT_MAX_RETRY_AFTER_MS = 300_000;

/**
 * The wait before retry number `retry` (from 1): the server's request if given (the caller refuses one
 * above maxRetryAfterMs), else full jitter capped at maxDelayMs.
 */
export function backoffDelay(retry: number, options: RetryOptions, requested?: number): number {
  const base = options.baseDelayMs ?? 500;
  const cap = options.maxDelayMs ?? 30_000;
  if (requested !== undefined) return requested;
  const random = options.random ?? Math.random;
  return Math.floor(random() * Math.min(cap, base * 2 ** (retry - 1)));
}

const defaultSleep = async (ms: number, signal?: AbortSignal): Promise<void> => {
  if (!(await delay(ms, signal))) throw new CancelledError('Model call was cancelled while waiting to retry.');
};

const networkCode = (error: unknown): string | undefined => {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && NETWORK_CODES.has(code)) return code;
    if (/socket hang up|other side closed|fetch failed|^terminated$/i.test(e.message)) return 'connection closed';
  }
  return undefined;
};

const classify = (error: unknown): AttemptFailure | undefined => {
  if (error instanceof AttemptFailure) return error;
  const code = networkCode(error);
  return code ? new AttemptFailure('network', `network error (${code})`) : undefined;
};

const advice = (failure: AttemptFailure | undefined, options: RetryCallOptions): string => {
  if (!failure) return 'This looks like a bug in the model adapter: report it with the cause attached.';
  if (failure.kind === 'malformed') {
    return (
      `Check that OPENAI_BASE_URL (or the baseURL option) is the base of an OpenAI-compatible API, which usually ends in /v1 ` +
      '(e.g. http://localhost:11434/v1), and that the server there speaks Chat Completions.'
    );
  }
  if (failure.kind === 'timeout') return `Raise timeoutMs (now ${options.timeoutMs} ms) or check that the server at ${options.target.baseURL} answers.`;
  if (failure.kind === 'network') return `Check that ${options.target.baseURL} is reachable (OPENAI_BASE_URL) and the server is running.`;
  const status = failure.status ?? 0;
  if (status === 401) return 'Check that OPENAI_API_KEY (or the apiKey option) is set and valid for this base URL.';
  if (status === 403) return `Check that the API key's project may use model ${options.target.model}.`;
  if (status === 404) return 'Check the model name (STATECRAFT_MODEL or the model option) and that the base URL serves /chat/completions.';
  if (status === 400 || status === 422) return 'The provider refused the request as invalid: its message says why; often the tool schemas or parameters (temperature, maxTokens) do not suit this model.';
  if (status === 429) return 'Rate limited or out of quota: wait, lower concurrency, check billing, or raise retry.maxRetries.';
  if (status >= 500) return 'The provider failed: try again later or raise retry.maxRetries.';
  return 'Check the provider documentation for this status.';
};

const isRetryable = (failure: AttemptFailure | undefined): boolean =>
  failure !== undefined && failure.kind !== 'malformed' && (failure.kind !== 'http' || isRetryableStatus(failure.status ?? 0));

const scrub = (text: string, secrets: readonly string[] = []): string => {
  let out = text;
  for (const secret of secrets) if (secret.length >= 4) out = out.split(secret).join('[redacted]');
  return out.replace(/\bsk-[A-Za-z0-9_*\-]{6,}/g, 'sk-[redacted]');
};

const WHAT: Record<FailureKind, string> = { http: 'HTTP', network: 'network error', timeout: 'timeout', malformed: 'a malformed response' };

/** A duration for people: "90 s", "10 min". */
const duration = (ms: number): string => (ms < 120_000 ? `${Math.round(ms / 1000)} s` : `${Math.round(ms / 60_000)} min`);

/** A failed attempt in a few words, for retry notices: "HTTP 429: Rate limit reached". */
const describe = (failure: AttemptFailure, options: RetryCallOptions): string => {
  const detail = failure.message.replace(/[\s.]+$/, '');
  if (failure.kind === 'http') return `HTTP ${failure.status}: ${detail}`;
  if (failure.kind === 'timeout') return `timeout after ${options.timeoutMs} ms`;
  return detail;
};

function finalError(
  failure: AttemptFailure | undefined,
  error: unknown,
  attempts: number,
  options: RetryCallOptions,
  adviceText = advice(failure, options),
): ModelCallError {
  const { baseURL, model, secrets } = options.target;
  const what =
    failure?.kind === 'http' ? `HTTP ${failure.status}` : failure?.kind === 'timeout' ? `timeout after ${options.timeoutMs} ms` : failure ? WHAT[failure.kind] : 'unexpected error';
  const detail = (failure ? failure.message : error instanceof Error ? error.message : String(error)).replace(/[\s.]+$/, '');
  const message =
    `Model call to ${baseURL} (model ${model}) failed with ${what} after ${attempts} attempt${attempts === 1 ? '' : 's'}: ` +
    `${detail}. ${adviceText}`;
  return new ModelCallError(scrub(message, secrets), {
    status: failure?.status,
    retryable: isRetryable(failure),
    cause: failure
      ? new AttemptFailure(failure.kind, scrub(failure.message, secrets), { status: failure.status, headers: failure.headers })
      : error instanceof Error
        ? new Error(scrub(error.message, secrets))
        : undefined,
  });
}

/**
 * Runs `attempt` with a per-attempt timeout and retries retryable failures with backoff; an external abort rejects with CancelledError.
 * @example
 * const reply = await callWithRetry((signal) => fetchReply(signal), { timeoutMs: 120_000, target: { baseURL, model } });
 */
export async function callWithRetry<T>(attempt: (signal: AbortSignal, attemptNumber: number) => Promise<T>, options: RetryCallOptions): Promise<T> {
  const retry = options.retry ?? {};
  const maxRetries = retry.maxRetries ?? 4;
  const sleep = retry.sleep ?? defaultSleep;
  const outer = options.signal;
  const cancelled = (): CancelledError =>
    new CancelledError(`Model call to ${options.target.baseURL} (model ${options.target.model}) was cancelled by its signal.`);

  for (let attemptNumber = 1; ; attemptNumber++) {
    if (outer?.aborted) throw cancelled();
    if (attemptNumber > 1 && options.pacing) {
      try {
        await options.pacing.beforeRetry(outer);
      } catch (paceError) {
        if (outer?.aborted) throw cancelled();
        throw paceError;
      }
    }
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort(new Error('timeout'));
    }, options.timeoutMs);
    const onOuterAbort = (): void => controller.abort(outer?.reason);
    outer?.addEventListener('abort', onOuterAbort, { once: true });
    let failure: AttemptFailure | undefined;
    let error: unknown;
    try {
      return await attempt(controller.signal, attemptNumber);
    } catch (caught) {
      if (outer?.aborted) throw cancelled();
      error = caught;
      failure = timedOut ? new AttemptFailure('timeout', `no complete answer within ${options.timeoutMs} ms`) : classify(caught);
    } finally {
      clearTimeout(timer);
      outer?.removeEventListener('abort', onOuterAbort);
    }
    // Told even when this call gives up: the others calling the endpoint should wait all the same.
    if (failure?.kind === 'http' && failure.status === 429) await options.pacing?.rateLimited(retryAfterMs(failure.headers));
    if (!isRetryable(failure) || attemptNumber > maxRetries) throw finalError(failure, error, attemptNumber, options);
    const requested = retryAfterMs(failure?.headers);
    const longest = retry.maxRetryAfterMs ?? DEFAULT_MAX_RETRY_AFTER_MS;
    if (requested !== undefined && requested > longest) {
      throw finalError(
        failure,
        error,
        attemptNumber,
        options,
        `The provider asked to wait ${duration(requested)} before trying again (Retry-After), longer than retry.maxRetryAfterMs ` +
          `(${duration(longest)}): try again after that wait, or raise retry.maxRetryAfterMs to let the call wait it out.`,
      );
    }
    const wait = backoffDelay(attemptNumber, retry, requested);
    options.onRetry?.({ attempt: attemptNumber + 1, delayMs: wait, reason: scrub(describe(failure!, options), options.target.secrets) });
    try {
      await sleep(wait, outer);
    } catch (sleepError) {
      if (outer?.aborted) throw cancelled();
      throw sleepError;
    }
  }
}
