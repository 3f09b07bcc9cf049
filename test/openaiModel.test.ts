import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ModelBehaviorError, ModelCallError, UserError } from '../src/errors.ts';
import { createOpenAIModel } from '../src/model/openaiModel.ts';
import type { Message } from '../src/protocol/messages.ts';
import type { ToolSpec } from '../src/protocol/model.ts';
import type { Script, ScriptStep } from '../src/testing/script.ts';
import { rejection, withServer } from './fixtures/helpers.ts';

const KEY = 'sk-test-key-0000';
const weather: ToolSpec = {
  name: 'weather',
  description: 'Weather for a city',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false },
};
const history: Message[] = [
  { role: 'system', content: 'Be brief.' },
  { role: 'user', content: 'Weather in Oslo and Paris?' },
  { role: 'assistant', content: null, toolCalls: [{ id: 'c1', name: 'weather', arguments: '{"city":"Oslo"}' }] },
  { role: 'tool', toolCallId: 'c1', name: 'weather', content: 'rain' },
];

for (const stream of [true, false]) {
  const mode = stream ? 'streaming' : 'non-streaming';

  test(`${mode}: cached and reasoning tokens are read from the usage details, and a zero is left out`, async () => {
    const steps: Script = [
      { content: 'a', usage: { inputTokens: 120, cachedInputTokens: 64, outputTokens: 40, reasoningTokens: 32 } },
      // OpenAI sends the details on every answer, zeros included.
      { content: 'b', usage: { inputTokens: 120, cachedInputTokens: 0, outputTokens: 40, reasoningTokens: 0 } },
    ];
    await withServer(steps, async (url) => {
      const model = createOpenAIModel({ baseURL: url, apiKey: KEY, model: 'gpt-test', stream });
      const first = await model.complete({ messages: history, tools: [] });
      assert.equal(first.usage, { inputTokens: 120, outputTokens: 40, cachedInputTokens: 64, reasoningTokens: 32 });
      const second = await model.complete({ messages: history, tools: [] });
      assert.equal(second.usage, { inputTokens: 120, outputTokens: 40 });
    });
  });

  test(`${mode}: text reply, usage and the model that answered`, async () => {
    await withServer([{ content: 'It rains in Oslo, the sun shines in Paris.', usage: { inputTokens: 120, outputTokens: 14 } }], async (url, server) => {
      const model = createOpenAIModel({ baseURL: url, apiKey: KEY, model: 'gpt-test', stream });
      const deltas: string[] = [];
      const response = await model.complete({ messages: history, tools: [weather], onDelta: (t) => deltas.push(t) });
      assert.equal(response.message, { role: 'assistant', content: 'It rains in Oslo, the sun shines in Paris.' });
      assert.equal(response.usage, { inputTokens: 120, outputTokens: 14 });
      assert.is(response.finishReason, 'stop');
      assert.is(response.model, 'gpt-test');
      if (stream) {
        assert.ok(deltas.length > 1, 'several fragments');
        assert.is(deltas.join(''), response.message.content);
      } else {
        assert.equal(deltas, []);
      }
      assert.is(server.requests[0]!.stream, stream);
      server.assertDone();
    });
  });

  test(`${mode}: parallel tool calls come back whole and in order`, async () => {
    const script: Script = [{
      toolCalls: [
        { id: 'call_a', name: 'weather', arguments: { city: 'Oslo' } },
        { id: 'call_b', name: 'weather', arguments: { city: 'Paris, the capital of France' } },
      ],
    }];
    await withServer(script, async (url) => {
      const model = createOpenAIModel({ baseURL: url, apiKey: KEY, stream });
      const response = await model.complete({ messages: history, tools: [weather] });
      assert.is(response.message.content, null);
      assert.equal(response.message.toolCalls, [
        { id: 'call_a', name: 'weather', arguments: '{"city":"Oslo"}' },
        { id: 'call_b', name: 'weather', arguments: '{"city":"Paris, the capital of France"}' },
      ]);
      assert.is(response.finishReason, 'tool_calls');
    });
  });

  test(`${mode}: malformed tool calls pass through untouched`, async () => {
    const script: Script = [{ toolCalls: [{ id: '', name: 'no_such_tool', arguments: '{"city": Oslo' }, { name: 'weather', arguments: '' }] }];
    await withServer(script, async (url) => {
      const model = createOpenAIModel({ baseURL: url, apiKey: KEY, stream });
      const { message } = await model.complete({ messages: history, tools: [weather] });
      assert.equal(message.toolCalls, [
        { id: '', name: 'no_such_tool', arguments: '{"city": Oslo' },
        { id: 'call_1', name: 'weather', arguments: '' },
      ]);
    });
  });
}

test('usage from several calls sums to what the script declared', async () => {
  const script: Script = [
    { toolCalls: [{ name: 'weather', arguments: { city: 'Oslo' } }], usage: { inputTokens: 100, outputTokens: 20 } },
    { content: 'rain', usage: { inputTokens: 150, outputTokens: 5 } },
  ];
  await withServer(script, async (url) => {
    const model = createOpenAIModel({ baseURL: url, apiKey: KEY });
    const a = await model.complete({ messages: history, tools: [weather] });
    const b = await model.complete({ messages: history, tools: [weather] });
    assert.is(a.usage.inputTokens + b.usage.inputTokens, 250);
    assert.is(a.usage.outputTokens + b.usage.outputTokens, 25);
  });
});

test('messages and tools reach the server in the API shape and map back to ours', async () => {
  await withServer([{ content: 'ok' }], async (url, server) => {
    const model = createOpenAIModel({ baseURL: url, apiKey: KEY, temperature: 0.2, maxTokens: 50 });
    await model.complete({ messages: history, tools: [weather] });
    const body = server.requests[0]!.body as Record<string, unknown>;
    const messages = body['messages'] as Array<Record<string, unknown>>;
    assert.equal(messages[2], {
      role: 'assistant',
      content: null,
      tool_calls: [{ id: 'c1', type: 'function', function: { name: 'weather', arguments: '{"city":"Oslo"}' } }],
    });
    assert.equal(messages[3], { role: 'tool', tool_call_id: 'c1', content: 'rain' });
    assert.equal(body['tools'], [{ type: 'function', function: { ...weather, strict: true } }]);
    assert.is(body['temperature'], 0.2);
    assert.is(body['max_tokens'], 50);
    assert.equal(body['stream_options'], { include_usage: true });
    assert.equal(server.requests[0]!.messages, history, 'the server maps the body back to our messages');
  });
});

test('each request sends exactly its own messages: a history that grew, one that was edited, one changed in place', async () => {
  await withServer([{ content: '1' }, { content: '2' }, { content: '3' }, { content: '4' }], async (url, server) => {
    const model = createOpenAIModel({ baseURL: url, apiKey: KEY });
    const grown: Message[] = [...history, { role: 'assistant', content: 'Rain in Oslo.' }, { role: 'user', content: 'And Paris?' }];
    const edited: Message[] = [history[0]!, { role: 'user', content: 'Weather in Rome?' }];
    const sent: Message[][] = [];
    for (const messages of [history, grown, edited]) {
      sent.push(structuredClone(messages));
      await model.complete({ messages, tools: [] });
    }
    edited[1] = { role: 'user', content: 'Weather in Lima?' };
    edited.push({ role: 'assistant', content: 'Sun.' });
    sent.push(structuredClone(edited));
    await model.complete({ messages: edited, tools: [] });
    assert.equal(
      server.requests.map((request) => request.messages),
      sent,
    );
  });
});

test('info names provider, model and params, never the key', () => {
  const local = createOpenAIModel({ baseURL: 'http://127.0.0.1:1/v1', apiKey: KEY, model: 'm', temperature: 0 });
  assert.equal(local.info, {
    provider: 'openai-compatible',
    model: 'm',
    params: { endpoint: 'http://127.0.0.1:1/v1', temperature: 0 },
  });
  const openai = createOpenAIModel({ apiKey: KEY, baseURL: 'https://api.openai.com/v1/' });
  assert.is(openai.info.provider, 'openai');
  assert.not.match(JSON.stringify([local.info, openai.info]), KEY);
});

test('configuration falls back to the environment; a missing key is a UserError unless a base URL is set', () => {
  const saved = { key: process.env['OPENAI_API_KEY'], model: process.env['STATECRAFT_MODEL'], base: process.env['OPENAI_BASE_URL'] };
  try {
    process.env['OPENAI_API_KEY'] = KEY;
    process.env['STATECRAFT_MODEL'] = 'env-model';
    process.env['OPENAI_BASE_URL'] = 'http://127.0.0.1:1/v1';
    const model = createOpenAIModel();
    assert.is(model.info.model, 'env-model');
    assert.is(model.info.provider, 'openai-compatible');
    delete process.env['STATECRAFT_MODEL'];
    assert.is(createOpenAIModel().info.model, 'gpt-4o-mini');
    delete process.env['OPENAI_API_KEY'];
    assert.is(createOpenAIModel().info.provider, 'openai-compatible', 'a local server needs no key');
    delete process.env['OPENAI_BASE_URL'];
    assert.throws(() => createOpenAIModel(), (error: unknown) => error instanceof UserError && /OPENAI_API_KEY/.test(error.message));
  } finally {
    for (const [name, value] of [['OPENAI_API_KEY', saved.key], ['STATECRAFT_MODEL', saved.model], ['OPENAI_BASE_URL', saved.base]] as const) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
});

const noWait = { sleep: async () => {}, random: () => 0.5 };
const sse = (...events: object[]) => events.map((e) => `data: ${JSON.stringify(e)}\n\n`).join('') + 'data: [DONE]\n\n';
const chunk = (delta: object) => ({ id: 'x', object: 'chat.completion.chunk', created: 0, model: 'm', choices: [{ index: 0, delta, finish_reason: null }] });

const notChatCompletions: Array<[string, boolean, ScriptStep]> = [
  ['a JSON body with no choices', false, { raw: { body: '{"id":"x","object":"list","data":[]}', contentType: 'application/json' } }],
  ['an HTML page', false, { raw: { body: '<!doctype html><html><body>Welcome to nginx</body></html>' } }],
  ['an HTML page, streamed', true, { raw: { body: '<!doctype html><html><body>Welcome to nginx</body></html>' } }],
  [
    'a tool call with no function',
    false,
    { raw: { contentType: 'application/json', body: JSON.stringify({ choices: [{ index: 0, finish_reason: 'tool_calls', message: { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function' }] } }] }) } },
  ],
  ['a streamed tool call with no function', true, { raw: { contentType: 'text/event-stream', body: sse(chunk({ tool_calls: [{ index: 0, id: 'c1', type: 'function' }] })) } }],
];

for (const [what, stream, step] of notChatCompletions) {
  test(`${what} fails at once, saying the server is no Chat Completions API and what to check`, async () => {
    await withServer([step], async (url, server) => {
      const model = createOpenAIModel({ baseURL: url, apiKey: KEY, stream, retry: noWait });
      const error = (await rejection(model.complete({ messages: history, tools: [weather] }))) as ModelCallError;
      assert.instance(error, ModelCallError);
      assert.match(error.message, `the server at ${url} did not return a Chat Completions response`);
      assert.match(error.message, 'OPENAI_BASE_URL');
      assert.match(error.message, '/v1');
      assert.not.match(error.message, 'bug in the model adapter');
      assert.is(error.retryable, false);
      assert.is(server.requests.length, 1, 'not retried');
    });
  });
}

for (const stream of [true, false]) {
  test(`${stream ? 'streaming' : 'non-streaming'}: a reply cut off by length or withheld by the content filter fails with the reason and the fix`, async () => {
    const script: Script = [
      { content: 'The answer is a long list: one, two, thr', finishReason: 'length', usage: { outputTokens: 16 } },
      { content: '', finishReason: 'content_filter' },
      { toolCalls: [{ name: 'weather', arguments: '{"city":' }], finishReason: 'length' },
    ];
    await withServer(script, async (url) => {
      const model = createOpenAIModel({ baseURL: url, apiKey: KEY, model: 'gpt-test', maxTokens: 16, stream });
      const ask = { messages: history, tools: [weather] };
      const cut = (await rejection(model.complete(ask))) as Error;
      assert.instance(cut, ModelBehaviorError);
      assert.match(cut.message, 'finish_reason "length"');
      assert.match(cut.message, 'Raise maxTokens (now 16)');
      const filtered = (await rejection(model.complete(ask))) as Error;
      assert.instance(filtered, ModelBehaviorError);
      assert.match(filtered.message, 'finish_reason "content_filter"');
      assert.match(filtered.message, 'Rephrase');
      const call = await model.complete(ask);
      assert.is(call.message.toolCalls?.length, 1, 'a cut-off tool call goes on to be checked like any other');
    });
  });
}

test('a stream reset mid-answer is retried: listeners hear the retry between the lost text and the new one', async () => {
  await withServer([{ content: 'Hello world', resetAfterChunks: 3 }, { content: 'Hello world' }], async (url, server) => {
    const model = createOpenAIModel({ baseURL: url, apiKey: KEY, retry: noWait });
    const heard: string[] = [];
    const response = await model.complete({
      ...{ messages: history, tools: [] },
      onDelta: (text) => heard.push(text),
      onRetry: ({ attempt, reason }) => heard.push(`<retry ${attempt}: ${reason}>`),
    });
    assert.is(response.message.content, 'Hello world');
    assert.is(server.requests.length, 2);
    const retry = heard.findIndex((h) => h.startsWith('<retry 2:'));
    assert.ok(retry > 0, `a retry notice after the lost text: ${JSON.stringify(heard)}`);
    assert.is(heard.slice(0, retry).join(''), 'Hell' + 'o wo');
    assert.is(heard.slice(retry + 1).join(''), 'Hello world', 'after the notice, the answer streams once');
  });
});

test('a base URL without http(s) and an empty model name are UserErrors that say what to set', () => {
  const saved = { model: process.env['STATECRAFT_MODEL'], base: process.env['OPENAI_BASE_URL'] };
  try {
    process.env['OPENAI_BASE_URL'] = 'localhost:11434/v1';
    assert.throws(() => createOpenAIModel({ apiKey: KEY }), (e: unknown) => e instanceof UserError && /OPENAI_BASE_URL/.test(e.message) && /http:\/\/localhost:11434\/v1/.test(e.message));
    assert.throws(() => createOpenAIModel({ apiKey: KEY, baseURL: 'ftp://host/v1' }), (e: unknown) => e instanceof UserError && /baseURL option/.test(e.message));
    process.env['OPENAI_BASE_URL'] = 'http://127.0.0.1:1/v1';
    process.env['STATECRAFT_MODEL'] = '';
    assert.throws(() => createOpenAIModel({ apiKey: KEY }), (e: unknown) => e instanceof UserError && /STATECRAFT_MODEL/.test(e.message) && /unset it/.test(e.message));
    assert.throws(() => createOpenAIModel({ apiKey: KEY, model: ' ' }), (e: unknown) => e instanceof UserError && /model option/.test(e.message));
  } finally {
    for (const [name, value] of [['STATECRAFT_MODEL', saved.model], ['OPENAI_BASE_URL', saved.base]] as const) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
});

test.run();
