import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ModelCallError } from '../src/errors.ts';
import { createOpenAIModel } from '../src/model/openaiModel.ts';
import { startScriptedServer } from '../src/testing/scriptedServer.ts';
import { rejection } from './fixtures/helpers.ts';

const post = (url: string, body: unknown) =>
  fetch(`${url}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

const ask = (extra: Record<string, unknown> = {}) => ({ model: 'm', messages: [{ role: 'user', content: 'hi' }], ...extra });

test('serves a JSON completion on 127.0.0.1 under /v1', async () => {
  const server = await startScriptedServer([{ content: 'hello', usage: { inputTokens: 3, outputTokens: 1 } }]);
  try {
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/v1$/);
    const res = await post(server.url, ask());
    assert.is(res.status, 200);
    const body = (await res.json()) as { choices: Array<{ message: { content: string }; finish_reason: string }>; usage: unknown; model: string };
    assert.is(body.choices[0]!.message.content, 'hello');
    assert.is(body.choices[0]!.finish_reason, 'stop');
    assert.equal(body.usage, { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 });
    assert.is(body.model, 'm');
    server.assertDone();
  } finally {
    await server.close();
  }
});

test("reports cached and reasoning tokens in OpenAI's usage details when the step gives them", async () => {
  const server = await startScriptedServer([{ content: 'hello', usage: { inputTokens: 30, cachedInputTokens: 20, outputTokens: 10, reasoningTokens: 4 } }]);
  try {
    const body = (await (await post(server.url, ask())).json()) as { usage: { prompt_tokens_details: unknown; completion_tokens_details: { reasoning_tokens: number } } };
    assert.equal(body.usage.prompt_tokens_details, { cached_tokens: 20, audio_tokens: 0 });
    assert.is(body.usage.completion_tokens_details.reasoning_tokens, 4);
    server.assertDone();
  } finally {
    await server.close();
  }
});

test('streams SSE chunks with split tool-call arguments, a usage chunk and [DONE]', async () => {
  const server = await startScriptedServer([{ toolCalls: [{ id: 'x', name: 'f', arguments: { long: 'argument text' } }] }]);
  try {
    const res = await post(server.url, ask({ stream: true, stream_options: { include_usage: true } }));
    assert.match(res.headers.get('content-type') ?? '', 'text/event-stream');
    const lines = (await res.text()).split('\n\n').filter(Boolean);
    assert.is(lines.at(-1), 'data: [DONE]');
    const chunks = lines.slice(0, -1).map((l) => JSON.parse(l.slice('data: '.length)));
    const argPieces = chunks.flatMap((c) => c.choices[0]?.delta?.tool_calls ?? []).map((t: { function?: { arguments?: string } }) => t.function?.arguments ?? '');
    assert.ok(argPieces.filter(Boolean).length >= 2, 'arguments split across chunks');
    assert.is(argPieces.join(''), '{"long":"argument text"}');
    assert.ok(chunks.at(-1).usage.completion_tokens > 0, 'usage estimated when the step gives none');
    assert.equal(chunks.at(-1).choices, []);
  } finally {
    await server.close();
  }
});

test('scripted errors send the status, JSON error body and headers', async () => {
  const server = await startScriptedServer([{ error: { status: 429, message: 'slow down', headers: { 'retry-after': '7' } } }]);
  try {
    const res = await post(server.url, ask());
    assert.is(res.status, 429);
    assert.is(res.headers.get('retry-after'), '7');
    assert.equal(await res.json(), { error: { message: 'slow down', type: 'scripted_error', code: '429' } });
  } finally {
    await server.close();
  }
});

test('a request beyond the script gets a 400 (not retried) naming the missing step, and assertDone reports it', async () => {
  const server = await startScriptedServer([]);
  try {
    const res = await post(server.url, ask({ messages: [{ role: 'user', content: 'unexpected question' }] }));
    assert.is(res.status, 400);
    const body = (await res.json()) as { error: { message: string } };
    assert.match(body.error.message, 'the script has no step #1');
    assert.match(body.error.message, 'call #1 is beyond the script');
    assert.match(body.error.message, 'unexpected question');
    assert.throws(() => server.assertDone(), /beyond the script/);
  } finally {
    await server.close();
  }
});

test('assertDone fails on unconsumed steps; unknown paths get 404', async () => {
  const server = await startScriptedServer([{ content: 'a' }]);
  try {
    const res = await fetch(`${server.url}/models`);
    assert.is(res.status, 404);
    await res.arrayBuffer();
    assert.throws(() => server.assertDone(), /expected 1 calls, got 0/);
  } finally {
    await server.close();
  }
});

test('function scripts see parsed requests; keepRequests bounds memory', async () => {
  const server = await startScriptedServer((i, request) => (i < 5 ? { content: `${i}:${request.messages.length}` } : undefined), {
    expectedCalls: 5,
    keepRequests: 2,
  });
  try {
    for (let i = 0; i < 5; i++) {
      const body = (await (await post(server.url, ask())).json()) as { choices: Array<{ message: { content: string } }> };
      assert.is(body.choices[0]!.message.content, `${i}:1`);
    }
    assert.equal(server.requests.map((r) => r.index), [3, 4]);
    server.assertDone();
  } finally {
    await server.close();
  }
});

test('close ends keep-alive connections and pending delayed replies', async () => {
  const server = await startScriptedServer([{ content: 'quick' }, { content: 'never', delayMs: 60_000 }]);
  await (await post(server.url, ask())).json();
  const pending = post(server.url, ask()).then(
    () => 'answered',
    () => 'failed',
  );
  while (server.requests.length < 2) await new Promise((r) => setTimeout(r, 5));
  await server.close();
  assert.is(await pending, 'failed');
  assert.is(await server.requests[1]!.settled, 'aborted');
});

test('through the openai client, a request beyond the script fails once, naming the missing step', async () => {
  const server = await startScriptedServer([{ content: 'one' }]);
  try {
    const model = createOpenAIModel({ baseURL: server.url, apiKey: 'test-key', model: 'scripted' });
    await model.complete({ messages: [{ role: 'user', content: 'hi' }], tools: [] });
    const error = (await rejection(model.complete({ messages: [{ role: 'user', content: 'again' }], tools: [] }))) as ModelCallError;
    assert.instance(error, ModelCallError);
    assert.is(server.requests.length, 2, 'no retries');
    assert.match(error.message, 'the script has no step #2');
    assert.match(error.message, 'model scripted');
    assert.not.match(error.message, 'try again later');
    assert.not.match(error.message, '..');
  } finally {
    await server.close();
  }
});

test('a tool call scripted without a name is sent without one, in JSON and in a stream', async () => {
  const server = await startScriptedServer([{ toolCalls: [{ id: 'c1', arguments: { a: 1 } }] }, { toolCalls: [{ id: 'c2', arguments: { a: 2 } }] }]);
  try {
    const json = (await (await post(server.url, ask())).json()) as { choices: Array<{ message: { tool_calls: unknown[] } }> };
    assert.equal(json.choices[0]!.message.tool_calls, [{ id: 'c1', type: 'function', function: { arguments: '{"a":1}' } }]);
    const text = await (await post(server.url, ask({ stream: true }))).text();
    assert.match(text, '"id":"c2","type":"function","function":{"arguments":""}');
    server.assertDone();
  } finally {
    await server.close();
  }
});

test('raw steps send their body as is; resetAfterChunks drops the connection mid-stream', async () => {
  const server = await startScriptedServer([{ raw: { body: '<html>hi</html>' } }, { content: 'Hello world', resetAfterChunks: 2 }]);
  try {
    const page = await post(server.url, ask());
    assert.is(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', 'text/html');
    assert.is(await page.text(), '<html>hi</html>');
    const res = await post(server.url, ask({ stream: true }));
    const error = await rejection(res.text());
    assert.ok(error instanceof Error);
    assert.is(await server.requests[1]!.settled, 'aborted');
  } finally {
    await server.close();
  }
});

test.run();
