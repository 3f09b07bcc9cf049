import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CancelledError, ModelBehaviorError, ModelCallError } from '../src/errors.ts';
import type { Message } from '../src/protocol/messages.ts';
import { scriptedModel } from '../src/testing/scriptedModel.ts';
import { rejection } from './fixtures/helpers.ts';

const user = (content: string): Message[] => [{ role: 'user', content }];

test('answers each call with the next step and records the requests', async () => {
  const model = scriptedModel([
    { toolCalls: [{ name: 'add', arguments: { a: 1, b: 2 } }, { name: 'add', arguments: '{"a":3}' }] },
    { content: 'done', usage: { inputTokens: 7, outputTokens: 2 } },
  ]);
  const first = await model.complete({ messages: user('add'), tools: [] });
  assert.equal(first.message.toolCalls, [
    { id: 'call_1', name: 'add', arguments: '{"a":1,"b":2}' },
    { id: 'call_2', name: 'add', arguments: '{"a":3}' },
  ]);
  assert.is(first.finishReason, 'tool_calls');
  const second = await model.complete({ messages: user('again'), tools: [] });
  assert.is(second.message.content, 'done');
  assert.equal(second.usage, { inputTokens: 7, outputTokens: 2 });
  assert.is(model.calls.length, 2);
  model.assertDone();
});

test('firstCallId numbers generated ids after those a continued run already holds', async () => {
  const model = scriptedModel([{ toolCalls: [{ name: 'add', arguments: {} }, { id: 'mine', name: 'add', arguments: {} }, { name: 'add', arguments: {} }] }], { firstCallId: 3 });
  const { message } = await model.complete({ messages: user('add'), tools: [] });
  assert.equal(message.toolCalls?.map((call) => call.id), ['call_3', 'mine', 'call_4']);
});

test('an explicit empty id stays empty so bad calls can be scripted', async () => {
  const model = scriptedModel([{ toolCalls: [{ id: '', name: 'nope', arguments: 'not json' }] }]);
  const { message } = await model.complete({ messages: user('x'), tools: [] });
  assert.equal(message.toolCalls, [{ id: '', name: 'nope', arguments: 'not json' }]);
});

test('a call beyond the script fails loudly, naming the call and the last message', async () => {
  const model = scriptedModel([{ content: 'only one' }]);
  await model.complete({ messages: user('first'), tools: [] });
  const error = await rejection(model.complete({ messages: user('second question'), tools: [] }));
  assert.instance(error, ModelBehaviorError);
  assert.match((error as Error).message, 'call #2');
  assert.match((error as Error).message, 'second question');
  assert.throws(() => model.assertDone(), /call #2 is beyond the script/);
});

test('assertDone fails when steps remain unconsumed', async () => {
  const model = scriptedModel([{ content: 'a' }, { content: 'b' }]);
  await model.complete({ messages: user('x'), tools: [] });
  assert.throws(() => model.assertDone(), /expected 2 calls, got 1/);
});

test('a function script with expectedCalls drives long runs and checks the count', async () => {
  const model = scriptedModel((i) => (i < 3 ? { content: `step ${i}` } : undefined), { expectedCalls: 3 });
  for (let i = 0; i < 3; i++) assert.is((await model.complete({ messages: user('go'), tools: [] })).message.content, `step ${i}`);
  model.assertDone();
  assert.instance(await rejection(model.complete({ messages: user('go'), tools: [] })), ModelBehaviorError);
});

test('function steps see the request and expect checks fail the call', async () => {
  const model = scriptedModel([
    (request) => ({ content: `you said ${request.messages.at(-1)?.content}` }),
    { content: 'x', expect: (request) => assert.is(request.tools.length, 1, 'one tool offered') },
  ]);
  assert.is((await model.complete({ messages: user('hi'), tools: [] })).message.content, 'you said hi');
  const error = await rejection(model.complete({ messages: user('hi'), tools: [] }));
  assert.match((error as Error).message, 'failed its expect check: one tool offered');
  assert.throws(() => model.assertDone(), /expect check/);
});

test('streams content to onDelta in fragments that concatenate to the message', async () => {
  const model = scriptedModel([{ content: 'The quick brown fox jumps over the lazy dog' }]);
  const pieces: string[] = [];
  const { message } = await model.complete({ messages: user('x'), tools: [], onDelta: (t) => pieces.push(t) });
  assert.ok(pieces.length > 1);
  assert.is(pieces.join(''), message.content);
});

test('scripted errors reject with a ModelCallError carrying the status', async () => {
  const model = scriptedModel([{ error: { status: 429, message: 'slow down' } }]);
  const error = await rejection(model.complete({ messages: user('x'), tools: [] }));
  assert.instance(error, ModelCallError);
  assert.is((error as ModelCallError).status, 429);
  assert.is((error as ModelCallError).retryable, true);
});

test('aborting the signal during a delayed step rejects with CancelledError', async () => {
  const model = scriptedModel([{ content: 'late', delayMs: 10_000 }]);
  const controller = new AbortController();
  const pending = model.complete({ messages: user('x'), tools: [], signal: controller.signal });
  setTimeout(() => controller.abort(), 10);
  assert.instance(await rejection(pending), CancelledError);
});

test('a tool call scripted without a name arrives with an empty name', async () => {
  const model = scriptedModel([{ toolCalls: [{ arguments: { a: 1 } }] }]);
  const { message, usage } = await model.complete({ messages: user('x'), tools: [] });
  assert.equal(message.toolCalls, [{ id: 'call_1', name: '', arguments: '{"a":1}' }]);
  assert.ok(usage.outputTokens > 0);
  model.assertDone();
});

test('resetAfterChunks streams part of the answer, then fails retryably; raw steps are refused', async () => {
  const model = scriptedModel([{ content: 'Hello world', resetAfterChunks: 1 }, { raw: { body: '<html></html>' } }]);
  const heard: string[] = [];
  const reset = (await rejection(model.complete({ messages: user('x'), tools: [], onDelta: (t) => heard.push(t) }))) as ModelCallError;
  assert.instance(reset, ModelCallError);
  assert.is(reset.retryable, true);
  assert.equal(heard, ['Hell']);
  const raw = await rejection(model.complete({ messages: user('x'), tools: [] }));
  assert.instance(raw, ModelBehaviorError);
  assert.match((raw as Error).message, 'only the scripted server');
});

test.run();
