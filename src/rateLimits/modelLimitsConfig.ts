import { StatecraftError, UserError } from '../errors.ts';
import type { ModelInfo } from '../protocol/model.ts';

/** The limits of one model endpoint, counted together by every process that shares them. */
export interface EndpointRateLimits {
  /** Model requests per minute, retries included. */
  requestsPerMinute?: number;
  /** Model tokens per minute: each request's input is estimated before it is sent, then corrected to what the provider reported (input and output). */
  tokensPerMinute?: number;
}

/** What a call that waits for its endpoint's limits tells `onWait`. */
export interface ModelLimitWait {
  /** The endpoint, as `modelEndpoint` names it (`gpt-4o-mini@https://api.openai.com/v1`). */
  endpoint: string;
  /** `blocked`: the endpoint answered 429 to some process, and asked all of them to wait. */
  reason: 'blocked' | 'requestsPerMinute' | 'tokensPerMinute';
  delayMs: number;
}

/** Options of `openModelLimits`. */
export interface ModelLimitsOptions extends EndpointRateLimits {
  /**
   * Limits of particular endpoints, by `modelEndpoint` name (`gpt-4o-mini@https://api.openai.com/v1`)
   * or by model name alone (`gpt-4o-mini`, for that model at any base URL); the top-level limits apply
   * to each endpoint not named here.
   */
  endpoints?: Record<string, EndpointRateLimits>;
  /**
   * The longest one model call waits for its endpoint's limits, all waits added up (default 5 minutes):
   * a call that would wait longer fails with a ModelRateLimitError that names the endpoint and the limit.
   */
  maxWaitMs?: number;
  /** Told each time a call starts to wait. */
  onWait?: (wait: ModelLimitWait) => void;
}

/** A model call that would wait longer for its endpoint's shared limits than `maxWaitMs` allows, or that no window of them could ever hold. */
export class ModelRateLimitError extends StatecraftError {
  readonly endpoint: string;
  constructor(message: string, endpoint: string) {
    super(message);
    this.endpoint = endpoint;
  }
}

const OPENAI = 'https://api.openai.com/v1';

/**
 * The name of the endpoint a model port calls, as rate limits count it: the model and the base URL,
 * without credentials or query (`gpt-4o-mini@https://api.openai.com/v1`). A port that names no URL is
 * known by its provider (`scripted@scripted`).
 */
export function modelEndpoint(info: ModelInfo): string {
  const given = info.params['endpoint'];
  const base = typeof given === 'string' && given !== '' ? given : info.provider === 'openai' ? OPENAI : info.provider;
  return `${info.model}@${base.replace(/\/+$/, '')}`;
}

export const DEFAULT_MAX_WAIT_MS = 300_000;

const checkLimit = (where: string, name: keyof EndpointRateLimits, value: unknown): void => {
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new UserError(`Model rate limits: ${where}${name} must be a whole number of at least 1, found ${String(value)}. Leave it out for no such limit.`);
  }
};

/** Checks the options before anything opens: whole positive limits, a positive wait cap. */
export function checkModelLimits(options: ModelLimitsOptions): void {
  checkLimit('', 'requestsPerMinute', options.requestsPerMinute);
  checkLimit('', 'tokensPerMinute', options.tokensPerMinute);
  for (const [name, limits] of Object.entries(options.endpoints ?? {})) {
    if (typeof limits !== 'object' || limits === null) throw new UserError(`Model rate limits: endpoints["${name}"] must be an object such as { requestsPerMinute: 60 }, found ${String(limits)}.`);
    checkLimit(`endpoints["${name}"].`, 'requestsPerMinute', limits.requestsPerMinute);
    checkLimit(`endpoints["${name}"].`, 'tokensPerMinute', limits.tokensPerMinute);
  }
  const wait = options.maxWaitMs;
  if (wait !== undefined && !(typeof wait === 'number' && wait >= 0 && Number.isFinite(wait))) {
    throw new UserError(`Model rate limits: maxWaitMs must be a number of milliseconds, 0 or more, found ${String(wait)}.`);
  }
}

/** The limits that apply to an endpoint: its own entry, else its model's, else the top-level ones. */
export function limitsOf(options: ModelLimitsOptions, endpoint: string, model: string): EndpointRateLimits {
  const own = options.endpoints?.[endpoint] ?? options.endpoints?.[model];
  return own ?? { requestsPerMinute: options.requestsPerMinute, tokensPerMinute: options.tokensPerMinute };
}

/** "90 s", "4 min": a duration for people. */
export const spoken = (ms: number): string => (ms < 120_000 ? `${Math.max(1, Math.ceil(ms / 1000))} s` : `${Math.round(ms / 60_000)} min`);
