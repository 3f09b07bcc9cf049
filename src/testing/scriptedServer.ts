import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Message, ToolCall } from '../protocol/messages.ts';
import type { ToolSpec } from '../protocol/model.ts';
import { ScriptCursor, estimateTokens, fragments } from './script.ts';
import type { ResolvedReply, Script, ScriptOptions } from './script.ts';
import { answerEmbeddings, bagOfWords, type EmbeddingRequest } from './scriptedEmbeddings.ts';

/** One request the scripted server received, with its body in both the API's shape and ours. */
export interface ParsedRequest {
  /** Position among received requests, from 0. */
  index: number;
  body: Record<string, unknown>;
  stream: boolean;
  messages: Message[];
  tools: ToolSpec[];
  /** True once the client closed the connection before the answer was complete. */
  aborted: boolean;
  /** Resolves when the answer was sent in full or the client went away. */
  settled: Promise<'finished' | 'aborted'>;
}

export interface ScriptedServerOptions extends ScriptOptions {
  port?: number;
  /** Keep only the last N parsed requests (default: all); long benchmark runs set this to bound memory. */
  keepRequests?: number;
  /** The vector POST /v1/embeddings answers for a text (default: `bagOfWords`, 64 dimensions); such requests are not steps of the script. */
  embed?: (text: string) => number[];
}

export interface ScriptedServer {
  /** Base URL ending in /v1, for `baseURL`. */
  url: string;
  requests: ParsedRequest[];
  /** Requests to /v1/embeddings, in order. */
  embeddingRequests: EmbeddingRequest[];
  close(): Promise<void>;
  /** Throws when a request did not fit the script or steps remain unconsumed. */
  assertDone(): void;
}

type ApiBody = {
  model?: unknown;
  stream?: unknown;
  stream_options?: { include_usage?: unknown } | null;
  messages?: unknown;
  tools?: unknown;
};

type ApiMessage = {
  role?: string;
  content?: unknown;
  tool_calls?: Array<{ id?: string; function?: { name?: string; arguments?: string } }>;
  tool_call_id?: string;
};

const textOf = (content: unknown): string =>
  typeof content === 'string'
    ? content
    : Array.isArray(content)
      ? content.map((part: { text?: unknown }) => (typeof part?.text === 'string' ? part.text : '')).join('')
      : '';

const toMessages = (raw: unknown): Message[] => {
  const names = new Map<string, string>();
  const out: Message[] = [];
  for (const m of Array.isArray(raw) ? (raw as ApiMessage[]) : []) {
    if (m.role === 'assistant') {
      const toolCalls: ToolCall[] = (m.tool_calls ?? []).map((c) => ({
        id: c.id ?? '',
        name: c.function?.name ?? '',
        arguments: c.function?.arguments ?? '',
      }));
      for (const c of toolCalls) names.set(c.id, c.name);
      const content = m.content === null || m.content === undefined ? null : textOf(m.content);
      out.push(toolCalls.length > 0 ? { role: 'assistant', content, toolCalls } : { role: 'assistant', content });
    } else if (m.role === 'tool') {
      const id = m.tool_call_id ?? '';
      out.push({ role: 'tool', toolCallId: id, name: names.get(id) ?? '', content: textOf(m.content) });
    } else {
      out.push({ role: m.role === 'user' ? 'user' : 'system', content: textOf(m.content) });
    }
  }
  return out;
};

const toTools = (raw: unknown): ToolSpec[] =>
  (Array.isArray(raw) ? raw : []).map((t: { function?: { name?: string; description?: string; parameters?: Record<string, unknown> } }) => ({
    name: t.function?.name ?? '',
    description: t.function?.description ?? '',
    parameters: t.function?.parameters ?? {},
  }));

const sendJson = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void => {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
};

const errorBody = (message: string, type: string, code: string | number) => ({ error: { message, type, code: String(code) } });

/** The reply as one JSON body, or as the list of server-sent events of a stream. */
function replyBodies(step: ResolvedReply, model: string, id: string, requestChars: number, stream: boolean, includeUsage: boolean): string | string[] {
  const outputChars = (step.content?.length ?? 0) + step.toolCalls.reduce((n, c) => n + c.name.length + c.arguments.length, 0);
  const prompt = step.usage?.inputTokens ?? estimateTokens(requestChars);
  const completion = step.usage?.outputTokens ?? estimateTokens(outputChars);
  const usage: Record<string, unknown> = { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
  // OpenAI's breakdown, sent when the step gives one (many compatible servers send none): cached tokens
  // are part of the prompt's, reasoning tokens part of the completion's.
  if (step.usage?.cachedInputTokens !== undefined || step.usage?.reasoningTokens !== undefined) {
    usage['prompt_tokens_details'] = { cached_tokens: step.usage.cachedInputTokens ?? 0, audio_tokens: 0 };
    usage['completion_tokens_details'] = { reasoning_tokens: step.usage.reasoningTokens ?? 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 };
  }
  const created = Math.floor(Date.now() / 1000);
  // A call scripted without a name is sent without one, as a model that forgot it would.
  const fn = (name: string, args: string) => (name === '' ? { arguments: args } : { name, arguments: args });
  const apiCalls = step.toolCalls.map((c) => ({ id: c.id, type: 'function', function: fn(c.name, c.arguments) }));
  if (!stream) {
    const message = { role: 'assistant', content: step.content, refusal: null, ...(apiCalls.length > 0 ? { tool_calls: apiCalls } : {}) };
    return JSON.stringify({
      id, object: 'chat.completion', created, model,
      choices: [{ index: 0, message, finish_reason: step.finishReason, logprobs: null }],
      usage,
    });
  }
  const base = { id, object: 'chat.completion.chunk', created, model };
  const deltas: Array<Record<string, unknown>> = [{ role: 'assistant', content: step.content === null ? null : '' }];
  for (const piece of fragments(step.content ?? '')) deltas.push({ content: piece });
  step.toolCalls.forEach((c, index) => {
    deltas.push({ tool_calls: [{ index, id: c.id, type: 'function', function: fn(c.name, '') }] });
    for (const piece of fragments(c.arguments, 2)) deltas.push({ tool_calls: [{ index, function: { arguments: piece } }] });
  });
  const out = deltas.map((delta) => `data: ${JSON.stringify({ ...base, choices: [{ index: 0, delta, finish_reason: null }] })}\n\n`);
  out.push(`data: ${JSON.stringify({ ...base, choices: [{ index: 0, delta: {}, finish_reason: step.finishReason }] })}\n\n`);
  if (includeUsage) out.push(`data: ${JSON.stringify({ ...base, choices: [], usage })}\n\n`);
  out.push('data: [DONE]\n\n');
  return out;
}

/**
 * Starts an OpenAI-compatible Chat Completions server on 127.0.0.1 that answers from a script (JSON and SSE).
 * @example
 * const server = await startScriptedServer([{ content: 'Hello' }]);
 * const model = createOpenAIModel({ baseURL: server.url, apiKey: 'test' });
 * // ...
 * server.assertDone();
 * await server.close();
 */
export async function startScriptedServer(script: Script, options: ScriptedServerOptions = {}): Promise<ScriptedServer> {
  const cursor = new ScriptCursor(script, options);
  const keep = options.keepRequests ?? Infinity;
  const requests: ParsedRequest[] = [];
  const embeddingRequests: EmbeddingRequest[] = [];
  const timers = new Set<NodeJS.Timeout>();
  let received = 0;

  const handle = (req: IncomingMessage, res: ServerResponse, raw: string): void => {
    const path = (req.url ?? '').split('?')[0];
    if (req.method === 'POST' && path === '/v1/embeddings') return answerEmbeddings(res, raw, options.embed ?? bagOfWords, embeddingRequests);
    if (req.method !== 'POST' || path !== '/v1/chat/completions') {
      sendJson(res, 404, errorBody(`Scripted server serves POST /v1/chat/completions and /v1/embeddings only, got ${req.method} ${req.url}.`, 'invalid_request_error', 404));
      return;
    }
    let body: ApiBody & Record<string, unknown>;
    try {
      body = JSON.parse(raw) as ApiBody & Record<string, unknown>;
    } catch {
      sendJson(res, 400, errorBody('Scripted server: the request body is not JSON.', 'invalid_request_error', 400));
      return;
    }
    const stream = body.stream === true;
    let settle: (how: 'finished' | 'aborted') => void = () => {};
    const parsed: ParsedRequest = {
      index: received++,
      body,
      stream,
      messages: toMessages(body.messages),
      tools: toTools(body.tools),
      aborted: false,
      settled: new Promise((resolve) => (settle = resolve)),
    };
    requests.push(parsed);
    if (requests.length > keep) requests.shift();
    let timer: NodeJS.Timeout | undefined;
    res.on('close', () => {
      if (timer) clearTimeout(timer), timers.delete(timer);
      parsed.aborted = !res.writableFinished;
      settle(parsed.aborted ? 'aborted' : 'finished');
    });

    const before = cursor.consumed;
    let step;
    try {
      step = cursor.next({ messages: parsed.messages, tools: parsed.tools });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      const beyond = cursor.consumed === before;
      // 400, which clients do not retry: a request the script has no step for fails at once and says so.
      sendJson(res, 400, errorBody(message, 'scripted_server_error', beyond ? 'beyond_script' : 'expect_failed'));
      return;
    }
    const respond = (): void => {
      if (step.kind === 'error') {
        sendJson(res, step.status, errorBody(step.message, step.type, step.status), step.headers);
        return;
      }
      if (step.kind === 'raw') {
        res.writeHead(step.status, { 'content-type': step.contentType, 'content-length': Buffer.byteLength(step.body) });
        res.end(step.body);
        return;
      }
      const model = typeof body.model === 'string' ? body.model : 'scripted';
      const text = replyBodies(step, model, `chatcmpl-scripted-${parsed.index}`, raw.length, stream, body.stream_options?.include_usage === true);
      if (Array.isArray(text)) {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        if (step.chunkDelayMs > 0 && step.resetAfterChunks === undefined) {
          const next = (at: number) => {
            if (at >= text.length || res.destroyed) return void res.end();
            res.write(text[at]);
            const timer = setTimeout(() => {
              timers.delete(timer);
              next(at + 1);
            }, step.chunkDelayMs);
            timers.add(timer);
          };
          next(0);
        } else if (step.resetAfterChunks === undefined) {
          res.end(text.join(''));
        } else {
          // The chunks sent so far reach the client, then the connection drops before the stream ends.
          res.write(text.slice(0, step.resetAfterChunks).join(''), () => setTimeout(() => res.destroy(), 20));
        }
      } else {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
        res.end(text);
      }
    };
    if (step.delayMs > 0) {
      timer = setTimeout(() => {
        if (timer) timers.delete(timer);
        respond();
      }, step.delayMs);
      timers.add(timer);
    } else {
      respond();
    }
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => handle(req, res, Buffer.concat(chunks).toString('utf8')));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    embeddingRequests,
    assertDone: () => cursor.assertDone(),
    close: () =>
      new Promise<void>((resolve, reject) => {
        for (const timer of timers) clearTimeout(timer);
        timers.clear();
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}
