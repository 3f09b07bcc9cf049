import { ModelBehaviorError } from '../errors.ts';
import type { Message, ToolCall, Usage } from '../protocol/messages.ts';
import type { ToolSpec } from '../protocol/model.ts';

/** What a script step sees of one model call, in Statecraft's own message shape. */
export interface ScriptRequest {
  messages: readonly Message[];
  tools: readonly ToolSpec[];
}

/**
 * A scripted tool call; object arguments are JSON-stringified, an omitted id becomes `call_<n>`. An
 * omitted name plays a model that forgot it: the call arrives with an empty name.
 */
export interface ScriptToolCall {
  id?: string;
  name?: string;
  arguments: string | object;
}

/** A scripted assistant reply. */
export interface ScriptReply {
  content?: string;
  toolCalls?: ScriptToolCall[];
  usage?: Partial<Usage>;
  delayMs?: number;
  finishReason?: string;
  /** Reset the connection after this many streamed chunks, as a dropped connection would (streamed answers only). */
  resetAfterChunks?: number;
  /** Wait this long between streamed chunks, as a slow model writes (the scripted server only, streamed answers only). */
  chunkDelayMs?: number;
  expect?: (request: ScriptRequest) => void;
}

/** A scripted provider failure: an HTTP status with an optional message and response headers. */
export interface ScriptError {
  error: { status: number; message?: string; type?: string; headers?: Record<string, string> };
  delayMs?: number;
  expect?: (request: ScriptRequest) => void;
}

/**
 * A response body sent as is, to play a server that is not a Chat Completions API (a web page, another
 * API's JSON). Only the scripted server can send it; the in-process scripted model refuses it.
 */
export interface ScriptRaw {
  raw: { body: string; status?: number; contentType?: string };
  delayMs?: number;
  expect?: (request: ScriptRequest) => void;
}

/** One step: a reply, an error, a raw response, or a function of the request that returns one. */
export type ScriptStep = ScriptReply | ScriptError | ScriptRaw | ((request: ScriptRequest) => ScriptReply | ScriptError | ScriptRaw);

/** A list of steps, or a function of the call index (from 0) that returns the step, or undefined past the end. */
export type Script = readonly ScriptStep[] | ((callIndex: number, request: ScriptRequest) => ScriptStep | undefined);

export interface ScriptOptions {
  /** For a function script: how many calls `assertDone()` expects. */
  expectedCalls?: number;
  /**
   * The number of the first generated call id (`call_<n>`, default 1): a script that continues a run
   * starts after the ids the run already holds, so that no two of its calls share an id.
   */
  firstCallId?: number;
}

export interface ResolvedReply {
  kind: 'reply';
  content: string | null;
  toolCalls: ToolCall[];
  usage: Partial<Usage> | undefined;
  finishReason: string;
  delayMs: number;
  resetAfterChunks: number | undefined;
  chunkDelayMs: number;
}

export interface ResolvedRaw {
  kind: 'raw';
  status: number;
  body: string;
  contentType: string;
  delayMs: number;
}

export interface ResolvedError {
  kind: 'error';
  status: number;
  message: string;
  type: string;
  headers: Record<string, string>;
  delayMs: number;
}

export type ResolvedStep = ResolvedReply | ResolvedError | ResolvedRaw;

const describeLast = (messages: readonly Message[]): string => {
  const last = messages[messages.length - 1];
  if (!last) return 'no messages';
  const text = last.role === 'assistant' ? (last.content ?? JSON.stringify(last.toolCalls ?? [])) : last.content;
  const short = text.length > 200 ? `${text.slice(0, 200)}…` : text;
  return `last message (${last.role}): ${JSON.stringify(short)}`;
};

const isRaw = (step: ScriptReply | ScriptError | ScriptRaw): step is ScriptRaw =>
  typeof (step as ScriptRaw).raw === 'object' && (step as ScriptRaw).raw !== null;

const isError = (step: ScriptReply | ScriptError | ScriptRaw): step is ScriptError =>
  typeof (step as ScriptError).error === 'object' && (step as ScriptError).error !== null;

/** Walks a script call by call, resolving steps and remembering mismatches so `assertDone` can report them. */
export class ScriptCursor {
  readonly #script: Script;
  readonly #expectedCalls: number | undefined;
  #index = 0;
  #nextCallId = 1;
  readonly failures: string[] = [];

  constructor(script: Script, options: ScriptOptions = {}) {
    this.#script = script;
    this.#expectedCalls = options.expectedCalls;
    this.#nextCallId = options.firstCallId ?? 1;
  }

  get consumed(): number {
    return this.#index;
  }

  /** Resolves the next step for a request; throws a ModelBehaviorError past the end or when `expect` fails. */
  next(request: ScriptRequest): ResolvedStep {
    const callNumber = this.#index + 1;
    const step = typeof this.#script === 'function' ? this.#script(this.#index, request) : this.#script[this.#index];
    if (step === undefined) {
      const length = typeof this.#script === 'function' ? 'a function script' : `${this.#script.length} steps`;
      return this.#fail(
        `Scripted model: the script has no step #${callNumber}: call #${callNumber} is beyond the script (${length}); ${describeLast(request.messages)}. ` +
          'Add a step for this call or find why the agent called the model again.',
      );
    }
    this.#index += 1;
    const resolved = typeof step === 'function' ? step(request) : step;
    if (resolved.expect) {
      try {
        resolved.expect(request);
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        return this.#fail(`Scripted model: call #${callNumber} failed its expect check: ${reason}`);
      }
    }
    if (isRaw(resolved)) {
      const { body, status, contentType } = resolved.raw;
      return { kind: 'raw', status: status ?? 200, body, contentType: contentType ?? 'text/html; charset=utf-8', delayMs: resolved.delayMs ?? 0 };
    }
    if (isError(resolved)) {
      const { status, message, type, headers } = resolved.error;
      return {
        kind: 'error',
        status,
        message: message ?? `Scripted error ${status} at call #${callNumber}`,
        type: type ?? 'scripted_error',
        headers: headers ?? {},
        delayMs: resolved.delayMs ?? 0,
      };
    }
    const toolCalls = (resolved.toolCalls ?? []).map((call) => ({
      id: call.id ?? `call_${this.#nextCallId++}`,
      name: call.name ?? '',
      arguments: typeof call.arguments === 'string' ? call.arguments : call.arguments === undefined ? '' : JSON.stringify(call.arguments),
    }));
    return {
      kind: 'reply',
      content: resolved.content ?? null,
      toolCalls,
      usage: resolved.usage,
      finishReason: resolved.finishReason ?? (toolCalls.length > 0 ? 'tool_calls' : 'stop'),
      delayMs: resolved.delayMs ?? 0,
      resetAfterChunks: resolved.resetAfterChunks,
      chunkDelayMs: resolved.chunkDelayMs ?? 0,
    };
  }

  /** Throws when a call did not fit the script or steps remain unconsumed. */
  assertDone(): void {
    if (this.failures.length > 0) {
      throw new ModelBehaviorError(`Scripted model saw ${this.failures.length} bad call(s):\n${this.failures.join('\n')}`);
    }
    const expected = typeof this.#script === 'function' ? this.#expectedCalls : this.#script.length;
    if (expected !== undefined && this.#index < expected) {
      throw new ModelBehaviorError(
        `Scripted model: expected ${expected} calls, got ${this.#index}; ${expected - this.#index} step(s) unconsumed. ` +
          'The agent stopped before the script ended: check its termination conditions or shorten the script.',
      );
    }
  }

  #fail(message: string): never {
    this.failures.push(message);
    throw new ModelBehaviorError(message);
  }
}

/** Splits text into at most `parts` fragments that concatenate back to it. */
export const fragments = (text: string, parts = 3): string[] => {
  if (text.length <= 1) return text.length === 0 ? [] : [text];
  const size = Math.ceil(text.length / parts);
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out;
};

/** A cheap token estimate (four characters a token) used when a step gives no usage. */
export const estimateTokens = (chars: number): number => Math.ceil(chars / 4);
