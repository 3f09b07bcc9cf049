import type { AssistantMessage, Message, Usage } from './messages.ts';

/** What the model is offered for one tool: a strict JSON schema of its parameters. */
export interface ToolSpec {
  name: string;
  description: string;
  parameters: Record<string, unknown>;
}

/** Identity of a model as the run log records it: a change here is a model swap. */
export interface ModelInfo {
  provider: string;
  model: string;
  params: Record<string, unknown>;
}

export interface ModelRequest {
  messages: readonly Message[];
  tools: readonly ToolSpec[];
  signal?: AbortSignal;
  /** Called with each streamed text fragment; only the final message enters state. */
  onDelta?: (text: string) => void;
  /**
   * Called before the port tries the call again (attempt from 2), with why the last attempt failed and
   * how long it waits: text already given to `onDelta` is discarded, and the new attempt streams anew.
   */
  onRetry?: (retry: { attempt: number; delayMs: number; reason: string }) => void;
  /**
   * The endpoint's shared rate limits, when the run has some (`modelLimits`): the runtime paces the
   * first attempt itself; a port that retries asks `beforeRetry` before each retry and reports each
   * 429 to `rateLimited`, so that every process calling the endpoint slows down, not only this one.
   */
  pacing?: ModelPacing;
}

/** See `ModelRequest.pacing`. */
export interface ModelPacing {
  /** Resolves once the endpoint's shared limits allow another attempt; rejects when the wait would pass its cap or the signal aborts. */
  beforeRetry(signal?: AbortSignal): Promise<void>;
  /** The endpoint answered 429, asking to wait `retryAfterMs` (from Retry-After or retry-after-ms) when it said. */
  rateLimited(retryAfterMs: number | undefined): Promise<void>;
}

export interface ModelResponse {
  message: AssistantMessage;
  usage: Usage;
  finishReason: string;
  /** The model that answered, as the provider reports it. */
  model: string;
}

/** The one port through which the runtime reaches a model. */
export interface ModelPort {
  readonly info: ModelInfo;
  complete(request: ModelRequest): Promise<ModelResponse>;
  /**
   * The same endpoint, credentials and settings with another model: an invoked agent that names a
   * model (`model: 'gpt-4o-mini'`) runs on the port its run was given. Optional; a port without it
   * refuses such agents when the run starts.
   */
  withModel?(model: string): ModelPort;
  /**
   * One vector per text, from the provider's embeddings endpoint. Optional; an agent's semantic
   * memory recall needs a port with it.
   */
  embed?(texts: readonly string[], options?: { signal?: AbortSignal }): Promise<number[][]>;
}
