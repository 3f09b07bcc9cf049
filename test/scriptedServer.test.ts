import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startScriptedServer } from '../src/testing/scriptedServer.ts';

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

test('a request beyond the script gets a 500 naming it, and assertDone reports it', async () => {
  const server = await startScriptedServer([]);
  try {
    const res = await post(server.url, ask({ messages: [{ role: 'user', content: 'unexpected question' }] }));
    assert.is(res.status, 500);
    const body = (await res.json()) as { error: { message: string } };
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

test.run();
