import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CancelledError, ModelCallError } from '../src/errors.ts';
import { createOpenAIModel } from '../src/model/openaiModel.ts';
import { AttemptFailure, backoffDelay, callWithRetry, retryAfterMs } from '../src/model/retry.ts';
import type { RetryOptions } from '../src/model/retry.ts';
import { startScriptedServer } from '../src/testing/scriptedServer.ts';
import { rejection, withServer } from './fixtures/helpers.ts';

const KEY = 'sk-test-SECRET-0123456789abcdef';
const ask = { messages: [{ role: 'user' as const, content: 'hi' }], tools: [] };

const recordingRetry = (delays: number[], extra: RetryOptions = {}): RetryOptions => ({
  random: () => 0.5,
  sleep: async (ms) => {
    delays.push(ms);
  },
  ...extra,
});

test('retryAfterMs reads retry-after-ms, seconds and HTTP dates', () => {
  const h = (o: Record<string, string>) => new Headers(o);
  assert.is(retryAfterMs(h({ 'retry-after-ms': '250' })), 250);
  assert.is(retryAfterMs(h({ 'Retry-After': '3' })), 3000);
  const now = Date.parse('2025-01-01T00:00:00Z');
  assert.is(retryAfterMs(h({ 'retry-after': 'Wed, 01 Jan 2025 00:00:05 GMT' }), now), 5000);
  assert.is(retryAfterMs(h({ 'retry-after': 'soon' })), undefined);
  assert.is(retryAfterMs(h({})), undefined);
});

test('backoff uses full jitter, grows exponentially and is capped', () => {
  const opts = { baseDelayMs: 100, maxDelayMs: 1000, random: () => 0.5 };
  assert.equal([1, 2, 3, 4, 5].map((n) => backoffDelay(n, opts)), [50, 100, 200, 400, 500]);
  assert.is(backoffDelay(1, { ...opts, random: () => 0 }), 0);
  assert.is(backoffDelay(1, opts, 60_000), 60_000, 'a server-requested delay is the server\'s, not capped by maxDelayMs');
});

test('429 with Retry-After then success: two attempts, waits the delay asked for', async () => {
  await withServer([{ error: { status: 429, message: 'Rate limit reached', headers: { 'retry-after': '2' } } }, { content: 'ok' }], async (url, server) => {
    const delays: number[] = [];
    const model = createOpenAIModel({ baseURL: url, apiKey: KEY, retry: recordingRetry(delays) });
    const response = await model.complete(ask);
    assert.is(response.message.content, 'ok');
    assert.is(server.requests.length, 2);
    assert.equal(delays, [2000]);
    server.assertDone();
  });
});

test('500 twice then success retries with growing backoff', async () => {
  await withServer([{ error: { status: 500 } }, { error: { status: 503 } }, { content: 'finally' }], async (url, server) => {
    const delays: number[] = [];
    const model = createOpenAIModel({ baseURL: url, apiKey: KEY, stream: false, retry: recordingRetry(delays, { baseDelayMs: 100 }) });
    assert.is((await model.complete(ask)).message.content, 'finally');
    assert.is(server.requests.length, 3);
    assert.equal(delays, [50, 100]);
  });
});

test('retries stop after maxRetries with a ModelCallError naming the attempts', async () => {
  await withServer([{ error: { status: 502 } }, { error: { status: 502 } }, { error: { status: 502 } }], async (url, server) => {
    const model = createOpenAIModel({ baseURL: url, apiKey: KEY, model: 'm1', retry: recordingRetry([], { maxRetries: 2 }) });
    const error = (await rejection(model.complete(ask))) as ModelCallError;
    assert.instance(error, ModelCallError);
    assert.is(error.status, 502);
    assert.is(error.retryable, true);
    assert.match(error.message, 'after 3 attempts');
    assert.match(error.message, url);
    assert.match(error.message, 'model m1');
    server.assertDone();
  });
});

test('401 fails at once, names the status and the fix, and never shows the key', async () => {
  const providerText = `Incorrect API key provided: ${KEY}. You can find your API key at the dashboard.`;
  await withServer([{ error: { status: 401, message: providerText, type: 'invalid_request_error' } }], async (url, server) => {
    const delays: number[] = [];
    const model = createOpenAIModel({ baseURL: url, apiKey: KEY, retry: recordingRetry(delays) });
    const error = (await rejection(model.complete(ask))) as ModelCallError;
    assert.instance(error, ModelCallError);
    assert.is(error.status, 401);
    assert.is(error.retryable, false);
    assert.match(error.message, 'HTTP 401');
    assert.match(error.message, 'Incorrect API key provided');
    assert.match(error.message, 'OPENAI_API_KEY');
    assert.match(error.message, 'after 1 attempt');
    assert.not.match(error.message, KEY);
    assert.not.match(JSON.stringify(error.cause ?? null) + String((error.cause as Error | undefined)?.message), KEY);
    assert.equal(delays, []);
    assert.is(server.requests.length, 1);
  });
});

test('connection refused is retried as a network error', async () => {
  const server = await startScriptedServer([]);
  const url = server.url;
  await server.close();
  const delays: number[] = [];
  const model = createOpenAIModel({ baseURL: url, apiKey: KEY, retry: recordingRetry(delays, { maxRetries: 2 }) });
  const error = (await rejection(model.complete(ask))) as ModelCallError;
  assert.instance(error, ModelCallError);
  assert.match(error.message, 'network error');
  assert.match(error.message, 'after 3 attempts');
  assert.is(delays.length, 2);
});

test('aborting the signal during a slow reply cancels the HTTP request at once', async () => {
  await withServer([{ content: 'too late', delayMs: 30_000 }], async (url, server) => {
    const delays: number[] = [];
    const model = createOpenAIModel({ baseURL: url, apiKey: KEY, retry: recordingRetry(delays) });
    const controller = new AbortController();
    const pending = model.complete({ ...ask, signal: controller.signal });
    while (server.requests.length === 0) await new Promise((r) => setTimeout(r, 5));
    controller.abort();
    assert.instance(await rejection(pending), CancelledError);
    assert.is(await server.requests[0]!.settled, 'aborted');
    assert.is(server.requests[0]!.aborted, true);
    assert.equal(delays, [], 'no retry after a cancel');
  });
});

test('a per-call timeout aborts the attempt and is retried', async () => {
  await withServer([{ content: 'slow', delayMs: 30_000 }, { content: 'fast' }], async (url, server) => {
    const delays: number[] = [];
    const model = createOpenAIModel({ baseURL: url, apiKey: KEY, timeoutMs: 150, retry: recordingRetry(delays) });
    assert.is((await model.complete(ask)).message.content, 'fast');
    assert.is(await server.requests[0]!.settled, 'aborted');
    assert.is(delays.length, 1);
    server.assertDone();
  });
});

test('400 is not retried and unknown errors become ModelCallError with a cause', async () => {
  let calls = 0;
  const fail400 = () => {
    calls++;
    return Promise.reject(new AttemptFailure('http', 'bad schema', { status: 400 }));
  };
  const target = { baseURL: 'http://x/v1', model: 'm' };
  const error = (await rejection(callWithRetry(fail400, { timeoutMs: 1000, target, retry: recordingRetry([]) }))) as ModelCallError;
  assert.is(calls, 1);
  assert.match(error.message, 'HTTP 400');
  const bug = (await rejection(callWithRetry(() => Promise.reject(new TypeError('boom')), { timeoutMs: 1000, target }))) as ModelCallError;
  assert.instance(bug, ModelCallError);
  assert.match(bug.message, 'boom');
});

test('a signal already aborted rejects with CancelledError without calling', async () => {
  let calls = 0;
  const controller = new AbortController();
  controller.abort();
  const error = await rejection(
    callWithRetry(async () => void calls++, { timeoutMs: 1000, signal: controller.signal, target: { baseURL: 'u', model: 'm' } }),
  );
  assert.instance(error, CancelledError);
  assert.is(calls, 0);
});

test('a long Retry-After is honoured up to maxRetryAfterMs, and each retry is announced', async () => {
  await withServer([{ error: { status: 429, message: 'Rate limit reached.', headers: { 'retry-after': '120' } } }, { content: 'ok' }], async (url) => {
    const delays: number[] = [];
    const notices: unknown[] = [];
    const model = createOpenAIModel({ baseURL: url, apiKey: KEY, retry: recordingRetry(delays) });
    assert.is((await model.complete({ ...ask, onRetry: (notice) => notices.push(notice) })).message.content, 'ok');
    assert.equal(delays, [120_000]);
    assert.equal(notices, [{ attempt: 2, delayMs: 120_000, reason: 'HTTP 429: Rate limit reached' }]);
  });
});

test('a Retry-After beyond maxRetryAfterMs fails at once, saying how long the provider asked to wait', async () => {
  const script = [{ error: { status: 429, message: 'Slow down', headers: { 'retry-after': '600' } } }];
  await withServer(script, async (url, server) => {
    const delays: number[] = [];
    const model = createOpenAIModel({ baseURL: url, apiKey: KEY, retry: recordingRetry(delays) });
    const error = (await rejection(model.complete(ask))) as ModelCallError;
    assert.instance(error, ModelCallError);
    assert.match(error.message, 'asked to wait 10 min');
    assert.match(error.message, 'retry.maxRetryAfterMs (5 min)');
    assert.equal(delays, []);
    assert.is(server.requests.length, 1);
  });
  await withServer([...script, { content: 'ok' }], async (url) => {
    const delays: number[] = [];
    const model = createOpenAIModel({ baseURL: url, apiKey: KEY, retry: recordingRetry(delays, { maxRetryAfterMs: 900_000 }) });
    assert.is((await model.complete(ask)).message.content, 'ok', 'the cap is configurable');
    assert.equal(delays, [600_000]);
  });
});

test('a provider message ending in a period is not followed by a second one', async () => {
  await withServer([{ error: { status: 400, message: 'Invalid schema for function.' } }], async (url) => {
    const model = createOpenAIModel({ baseURL: url, apiKey: KEY, retry: recordingRetry([]) });
    const error = (await rejection(model.complete(ask))) as ModelCallError;
    assert.match(error.message, 'Invalid schema for function. ');
    assert.not.match(error.message, '..');
  });
});

test.run();
