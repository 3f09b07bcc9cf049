import OpenAI, { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from 'openai';
import type {
  ChatCompletionCreateParamsBase,
  ChatCompletionFunctionTool,
  ChatCompletionMessageParam,
} from 'openai/resources/chat/completions/completions';
import { UserError } from '../errors.ts';
import type { AssistantMessage, Message, ToolCall, Usage } from '../protocol/messages.ts';
import type { ModelInfo, ModelPort, ModelRequest, ModelResponse, ToolSpec } from '../protocol/model.ts';
import { AttemptFailure, callWithRetry } from './retry.ts';
import type { RetryOptions } from './retry.ts';
import { checkBaseURL, notChatCompletions, preview, shapeProblem, unusableFinish } from './replyChecks.ts';

const DEFAULT_BASE_URL = 'https://api.openai.com/v1';
const DEFAULT_MODEL = 'gpt-4o-mini';

export interface OpenAIModelOptions {
  /** Model name; defaults to STATECRAFT_MODEL, then 'gpt-4o-mini'. */
  model?: string;
  /** Defaults to OPENAI_API_KEY. */
  apiKey?: string;
  /** Defaults to OPENAI_BASE_URL, then the OpenAI API. */
  baseURL?: string;
  temperature?: number;
  maxTokens?: number;
  /** Per attempt, covering the whole streamed answer (default 120000). */
  timeoutMs?: number;
  retry?: RetryOptions;
  /** Stream the answer and report text fragments through `onDelta` (default true). */
  stream?: boolean;
  /** A preconfigured client (its own retries should be 0); apiKey and baseURL are then ignored. */
  client?: OpenAI;
  /** The model `embed` asks the endpoint's /embeddings for (default 'text-embedding-3-small'). */
  embeddingModel?: string;
}

type ApiMessage = ChatCompletionMessageParam;

/**
 * The wire form of each message, made once: messages in a run's state never change, and every
 * request sends the whole history again, so converting it anew would cost time linear in the
 * history on every step.
 */
const apiMessages = new WeakMap<Message, ApiMessage>();

const toApiMessage = (message: Message): ApiMessage => {
  let converted = apiMessages.get(message);
  if (!converted) apiMessages.set(message, (converted = convert(message)));
  return converted;
};

/**
 * Converts a request's messages, reusing the previous request's list when this one only adds to it
 * (a run's next step): comparing references is several times cheaper than a WeakMap lookup per
 * message, which over a long history cost tens of microseconds per step.
 */
function apiMessageLists() {
  let source: readonly Message[] = [];
  let converted: ApiMessage[] = [];
  return (messages: readonly Message[]): ApiMessage[] => {
    let grew = source.length > 0 && source.length <= messages.length;
    for (let i = 0; grew && i < source.length; i++) grew = source[i] === messages[i];
    // A list that did not grow (a trimmed window, another run on this port) goes through the WeakMap;
    // one that grew converts its new messages directly, keeping them out of it (each WeakMap entry
    // also adds to every full garbage collection's work).
    const list = grew ? converted.slice() : messages.map(toApiMessage);
    for (let i = list.length; i < messages.length; i++) list.push(convert(messages[i]!));
    source = messages.slice();
    converted = list;
    return list.slice();
  };
}

const convert = (message: Message): ApiMessage => {
  switch (message.role) {
    case 'system':
    case 'user':
      return { role: message.role, content: message.content };
    case 'tool':
      return { role: 'tool', tool_call_id: message.toolCallId, content: message.content };
    case 'assistant': {
      const calls = message.toolCalls ?? [];
      return calls.length === 0
        ? { role: 'assistant', content: message.content }
        : {
            role: 'assistant',
            content: message.content,
            tool_calls: calls.map((call) => ({ id: call.id, type: 'function', function: { name: call.name, arguments: call.arguments } })),
          };
    }
  }
};

const toApiTool = (tool: ToolSpec): ChatCompletionFunctionTool => ({
  type: 'function',
  function: { name: tool.name, description: tool.description, parameters: tool.parameters, strict: true },
});

type ApiUsage = {
  prompt_tokens?: number;
  completion_tokens?: number;
  prompt_tokens_details?: { cached_tokens?: number | null } | null;
  completion_tokens_details?: { reasoning_tokens?: number | null } | null;
};

const count = (value: unknown) => (typeof value === 'number' && Number.isSafeInteger(value) && value > 0 ? value : 0);

/**
 * Our usage from the API's. Cached and reasoning tokens are parts of the prompt and completion
 * counts, kept only when there are some: a usage without them is the same as before they were read.
 */
const toUsage = (usage: ApiUsage | null | undefined): Usage => {
  const out: Usage = { inputTokens: usage?.prompt_tokens ?? 0, outputTokens: usage?.completion_tokens ?? 0 };
  const cached = count(usage?.prompt_tokens_details?.cached_tokens);
  const reasoning = count(usage?.completion_tokens_details?.reasoning_tokens);
  if (cached > 0) out.cachedInputTokens = cached;
  if (reasoning > 0) out.reasoningTokens = reasoning;
  return out;
};

const assistantMessage = (content: string | null, toolCalls: ToolCall[]): AssistantMessage =>
  toolCalls.length > 0 ? { role: 'assistant', content, toolCalls } : { role: 'assistant', content };

const providerMessage = (error: APIError, body = error.error as { message?: unknown } | undefined): string =>
  typeof body?.message === 'string' && body.message !== '' ? body.message : error.message;

/** Turns openai client errors into provider-neutral attempt failures; aborts are left to the retry layer to judge. */
const translate = (error: unknown): unknown => {
  if (error instanceof APIUserAbortError) return error;
  if (error instanceof APIConnectionTimeoutError) return new AttemptFailure('timeout', 'the client timed out waiting for a response');
  if (error instanceof APIConnectionError) {
    const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
    return new AttemptFailure('network', `connection failed${cause}`);
  }
  if (error instanceof APIError && typeof error.status === 'number') {
    return new AttemptFailure('http', providerMessage(error), { status: error.status, headers: error.headers });
  }
  return error;
};

/** A streamed call so far; `named` stays false until a part of it carried a `function` object. */
type PartialCall = { id: string; name: string; arguments: string; named: boolean };

/**
 * Creates a ModelPort over an OpenAI-compatible Chat Completions endpoint, with our own retries, timeout and cancellation.
 * @example
 * const model = createOpenAIModel({ model: 'gpt-4o-mini', temperature: 0 });
 * const { message } = await model.complete({ messages: [{ role: 'user', content: 'Hi' }], tools: [] });
 */
export function createOpenAIModel(options: OpenAIModelOptions = {}): ModelPort {
  const model = options.model ?? process.env['STATECRAFT_MODEL'] ?? DEFAULT_MODEL;
  if (typeof model !== 'string' || model.trim() === '') {
    const from = options.model !== undefined ? 'the model option' : 'STATECRAFT_MODEL';
    throw new UserError(
      `createOpenAIModel: the model name from ${from} is empty. Set ${from} to a model name such as ${DEFAULT_MODEL}` +
        (options.model === undefined ? ', or unset it to use that default.' : '.'),
    );
  }
  const timeoutMs = options.timeoutMs ?? 120_000;
  const stream = options.stream ?? true;
  if (!(timeoutMs > 0)) throw new UserError(`createOpenAIModel: timeoutMs must be a positive number of milliseconds, got ${timeoutMs}.`);
  const apiKey = options.apiKey ?? process.env['OPENAI_API_KEY'];
  let client: OpenAI;
  if (options.client) {
    client = options.client;
  } else {
    const baseOption = options.baseURL ?? process.env['OPENAI_BASE_URL'];
    if (baseOption !== undefined) checkBaseURL(baseOption, DEFAULT_BASE_URL, options.baseURL !== undefined ? 'the baseURL option' : 'OPENAI_BASE_URL');
    if (!apiKey && !baseOption) {
      throw new UserError(
        'createOpenAIModel: no API key found: expected the apiKey option or the OPENAI_API_KEY environment variable. ' +
          'Set one (any non-empty value for a local server that needs no key).',
      );
    }
    // Local servers (Ollama, vLLM) need no key, but the client insists on one.
    client = new OpenAI({ apiKey: apiKey || 'no-key', baseURL: baseOption ?? DEFAULT_BASE_URL, maxRetries: 0 });
  }
  const baseURL = client.baseURL.replace(/\/+$/, '');
  if (options.client) checkBaseURL(baseURL, DEFAULT_BASE_URL, "the client's baseURL");
  const provider = baseURL === DEFAULT_BASE_URL ? 'openai' : 'openai-compatible';
  // The endpoint is part of the model's identity (the same name served elsewhere is a swap); credentials are not.
  const endpoint = new URL(baseURL);
  endpoint.username = '';
  endpoint.password = '';
  endpoint.search = '';
  const params: Record<string, unknown> = provider === 'openai' ? {} : { endpoint: endpoint.toString().replace(/\/+$/, '') };
  if (options.temperature !== undefined) params['temperature'] = options.temperature;
  if (options.maxTokens !== undefined) params['maxTokens'] = options.maxTokens;
  const info: ModelInfo = { provider, model, params };
  const secrets = [apiKey, client.apiKey].filter((s): s is string => typeof s === 'string' && s !== '');

  const toApiMessages = apiMessageLists();
  const body = (request: ModelRequest): ChatCompletionCreateParamsBase => {
    const out: ChatCompletionCreateParamsBase = { model, messages: toApiMessages(request.messages) };
    if (request.tools.length > 0) out.tools = request.tools.map(toApiTool);
    if (options.temperature !== undefined) out.temperature = options.temperature;
    if (options.maxTokens !== undefined) {
      // OpenAI's reasoning models refuse max_tokens; many compatible servers only know max_tokens.
      if (provider === 'openai') out.max_completion_tokens = options.maxTokens;
      else out.max_tokens = options.maxTokens;
    }
    return out;
  };

  async function once(request: ModelRequest, signal: AbortSignal): Promise<ModelResponse> {
    const requestOptions = { signal, timeout: timeoutMs + 1000, maxRetries: 0 };
    if (!stream) {
      const completion = await client.chat.completions.create({ ...body(request), stream: false }, requestOptions);
      const problem = shapeProblem(completion);
      if (problem) throw notChatCompletions(baseURL, problem);
      const choice = completion.choices[0];
      const toolCalls: ToolCall[] = [];
      for (const [index, call] of (choice?.message.tool_calls ?? []).entries()) {
        // Compatible servers do not always send `type`; the payload object says which kind of call it is.
        const loose = call as { id?: string; function?: { name?: string; arguments?: string }; custom?: { name?: string; input?: string } };
        if (typeof loose.function === 'object' && loose.function !== null) {
          toolCalls.push({ id: loose.id ?? '', name: loose.function.name ?? '', arguments: loose.function.arguments ?? '' });
        } else if (typeof loose.custom === 'object' && loose.custom !== null) {
          toolCalls.push({ id: loose.id ?? '', name: loose.custom.name ?? '', arguments: loose.custom.input ?? '' });
        } else {
          throw notChatCompletions(baseURL, `tool call #${index + 1} has no "function" (${preview(call)})`);
        }
      }
      return {
        message: assistantMessage(choice?.message.content ?? null, toolCalls),
        usage: toUsage(completion.usage),
        finishReason: choice?.finish_reason ?? 'unknown',
        model: completion.model ?? model,
      };
    }
    const chunks = await client.chat.completions.create(
      { ...body(request), stream: true, stream_options: { include_usage: true } },
      requestOptions,
    );
    let text = '';
    let sawText = false;
    let finishReason = 'unknown';
    let answeredBy = model;
    let usage: Usage = { inputTokens: 0, outputTokens: 0 };
    const calls: PartialCall[] = [];
    let events = 0;
    let sawChoice = false;
    for await (const chunk of chunks) {
      events++;
      if (typeof chunk !== 'object' || chunk === null) throw notChatCompletions(baseURL, `a streamed event was not a JSON object (${preview(chunk)})`);
      if (chunk.model) answeredBy = chunk.model;
      if (chunk.usage) usage = toUsage(chunk.usage);
      const choice = chunk.choices?.[0];
      if (!choice) continue;
      sawChoice = true;
      if (choice.finish_reason) finishReason = choice.finish_reason;
      const delta = choice.delta;
      if (typeof delta?.content === 'string') {
        sawText = true;
        if (delta.content !== '') {
          text += delta.content;
          request.onDelta?.(delta.content);
        }
      }
      for (const part of delta?.tool_calls ?? []) {
        const index = typeof part.index === 'number' ? part.index : calls.length;
        const call = (calls[index] ??= { id: '', name: '', arguments: '', named: false });
        if (part.id) call.id = part.id;
        if (typeof part.function === 'object' && part.function !== null) call.named = true;
        if (part.function?.name) call.name += part.function.name;
        if (part.function?.arguments) call.arguments += part.function.arguments;
      }
    }
    if (events === 0) throw notChatCompletions(baseURL, 'the stream carried no server-sent events (a web page or another API answered)');
    if (!sawChoice) throw notChatCompletions(baseURL, 'no streamed event had a "choices" entry');
    const unnamed = calls.findIndex((call) => call !== undefined && !call.named);
    if (unnamed >= 0) throw notChatCompletions(baseURL, `tool call #${unnamed + 1} has no "function"`);
    const toolCalls = calls.filter((call) => call !== undefined).map(({ id, name, arguments: args }): ToolCall => ({ id, name, arguments: args }));
    return {
      message: assistantMessage(sawText && (text !== '' || toolCalls.length === 0) ? text : null, toolCalls),
      usage,
      finishReason,
      model: answeredBy,
    };
  }

  return {
    info,
    withModel: (name) => createOpenAIModel({ ...options, client, model: name }),
    embed: async (texts, { signal } = {}) => {
      const input = [...texts], embeddingModel = options.embeddingModel ?? 'text-embedding-3-small';
      const answer = await callWithRetry(async (signal) => client.embeddings.create({ model: embeddingModel, input, encoding_format: 'float' }, { signal, timeout: timeoutMs, maxRetries: 0 }).catch((error: unknown) => { throw translate(error); }), { retry: options.retry, timeoutMs, signal, target: { baseURL, model: embeddingModel, secrets } });
      return [...answer.data].sort((a, b) => a.index - b.index).map((item) => item.embedding);
    },
    complete: async (request) => {
      const response = await callWithRetry(
        async (signal) => {
          try {
            return await once(request, signal);
          } catch (error) {
            throw translate(error);
          }
        },
        { retry: options.retry, timeoutMs, signal: request.signal, target: { baseURL, model, secrets }, onRetry: request.onRetry, pacing: request.pacing },
      );
      const unusable = unusableFinish(response, `Model ${model} at ${baseURL}`, options.maxTokens);
      if (unusable) throw unusable;
      return response;
    },
  };
}
