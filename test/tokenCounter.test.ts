// Token counts of the model's input: exact for OpenAI's models, calibrated from reported usage for others.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { z } from 'zod';
import * as cl100k from 'gpt-tokenizer/encoding/cl100k_base';
import * as o200k from 'gpt-tokenizer/encoding/o200k_base';
import { estimatingCounter, surelyFits, tokenCounterFor } from '../src/model/tokenCounter.ts';
import { inputBudget } from '../src/runtime/contextWindow.ts';
import { defineAgent, defineTool, runAgent } from '../src/index.ts';
import type { Message } from '../src/index.ts';
import { scriptedModel, type ScriptRequest } from '../src/testing/index.ts';

const TEXT = 'Grüße aus Köln! 東京の天気は晴れです。 Statecraft counts tokens exactly: 12345 + 67890.';

test('OpenAI models are counted exactly with their own encoding, each message with its overhead', async () => {
  assert.is.not(o200k.countTokens(TEXT), cl100k.countTokens(TEXT), 'a text on which the two encodings differ');
  const gpt4o = await tokenCounterFor({ provider: 'openai', model: 'gpt-4o' });
  assert.ok(gpt4o.exact);
  assert.is(gpt4o.message({ role: 'user', content: TEXT }), o200k.countTokens(TEXT) + 3);
  const gpt4 = await tokenCounterFor({ provider: 'openai', model: 'gpt-4' });
  assert.is(gpt4.message({ role: 'user', content: TEXT }), cl100k.countTokens(TEXT) + 3);
  const viaGateway = await tokenCounterFor({ provider: 'openai-compatible', model: 'openai/gpt-4.1-mini' });
  assert.ok(viaGateway.exact, 'a gateway serving an OpenAI model by name');
  const call: Message = { role: 'assistant', content: null, toolCalls: [{ id: 'c1', name: 'read_file', arguments: '{"path":"README.md"}' }] };
  assert.is(gpt4o.message(call), 3 + 8 + o200k.countTokens('read_file') + o200k.countTokens('{"path":"README.md"}'));
  assert.is(gpt4o.request([{ role: 'user', content: TEXT }, call]), gpt4o.message({ role: 'user', content: TEXT }) + gpt4o.message(call) + 3);
});

test('other models are estimated, then scaled to the input tokens the model reports, within bounds', async () => {
  const counter = await tokenCounterFor({ provider: 'openai-compatible', model: 'llama-3.3-70b' });
  assert.not.ok(counter.exact);
  const messages: Message[] = [{ role: 'user', content: 'x'.repeat(400) }];
  const before = counter.request(messages);
  assert.is(before, 100 + 3 + 3);
  counter.observe(messages, before * 2);
  assert.is(counter.request(messages), before * 2);
  assert.is(counter.message(messages[0]!), 206);
  counter.observe(messages, before * 100);
  assert.is(counter.request(messages), before * 4, 'a wild report is held to 4x');
  const exact = await tokenCounterFor({ provider: 'openai', model: 'gpt-4o' });
  exact.observe(messages, 1);
  assert.is(exact.request(messages), o200k.countTokens('x'.repeat(400)) + 6, 'an exact count is not scaled');
});

test('messages whose bytes bound their tokens under a budget surely fit, without counting', () => {
  const short: Message[] = [{ role: 'user', content: 'hello' }];
  assert.ok(surelyFits(short, 100));
  assert.not.ok(surelyFits([{ role: 'user', content: 'y'.repeat(200) }], 100));
  const counter = estimatingCounter();
  counter.observe(short, 1000);
  assert.ok(counter.request(short) <= 100, 'the bound holds at the largest scale');
});

test('the input budget is the agent\'s maxContextTokens, else the catalogue\'s window less room for the answer', () => {
  assert.is(inputBudget({ maxContextTokens: 5000, prices: {} }, 'gpt-4o'), 5000);
  assert.is(inputBudget({ maxContextTokens: undefined, prices: {} }, 'gpt-4o'), 128_000 - 16_384);
  assert.is(inputBudget({ maxContextTokens: undefined, prices: {} }, 'acme-unknown-model'), undefined);
});

const bigTool = defineTool({
  name: 'fetch_page',
  description: 'Fetches a page.',
  parameters: z.object({ n: z.number() }),
  execute: ({ n }) => `page ${n}: ${'lorem ipsum dolor sit amet '.repeat(12)}`,
});

/** A model that calls the tool `turns` times, then answers, and reports `ratio` times the four-characters estimate as its input tokens. */
function chattyModel(turns: number, ratio: number, seen: ScriptRequest[], name = 'acme-large') {
  const charsOf = (messages: readonly Message[]) => messages.reduce((sum, m) => sum + (m.content?.length ?? 0) + (m.role === 'assistant' ? (m.toolCalls ?? []).reduce((s, c) => s + c.name.length + c.arguments.length, 0) : 0), 0);
  return scriptedModel(
    (index, request) => {
      seen.push(request);
      const usage = { inputTokens: Math.ceil((charsOf(request.messages) / 4) * ratio) + 4 * request.messages.length };
      return index < turns ? { toolCalls: [{ name: 'fetch_page', arguments: { n: index } }], usage } : index === turns ? { content: 'Read them all.', usage } : undefined;
    },
    { expectedCalls: turns + 1, model: name },
  );
}

const pairsIntact = (messages: readonly Message[]) =>
  messages.every((message, i) => message.role !== 'tool' || messages.slice(0, i).some((m) => m.role === 'assistant' && m.toolCalls?.some((call) => call.id === message.toolCallId)));

test('a long run on a model that counts twice the estimate stays within its window once calibrated, and never separates a call from its result', async () => {
  const seen: ScriptRequest[] = [];
  const budget = 2000;
  const model = chattyModel(60, 2, seen);
  const result = await runAgent(defineAgent({ name: 'reader', tools: [bigTool], maxContextTokens: budget, limits: { maxSteps: 100 }, model }), 'Read sixty pages.');
  assert.is(result.status, 'done', JSON.stringify(result));
  assert.is(seen.length, 61);
  const reported = seen.map((request) => Math.ceil((request.messages.reduce((sum, m) => sum + (m.content?.length ?? 0) + (m.role === 'assistant' ? (m.toolCalls ?? []).reduce((s, c) => s + c.name.length + c.arguments.length, 0) : 0), 0) / 4) * 2) + 4 * request.messages.length);
  // The first request that had to be cut was cut on the uncalibrated estimate; every one after it on the calibrated count.
  const calibrated = reported.slice(1);
  assert.ok(Math.max(...calibrated) <= budget, `at most ${budget} tokens as the model counts them, found ${Math.max(...calibrated)}`);
  assert.ok(Math.max(...calibrated) > budget * 0.7, 'the window is used, not cut far short');
  assert.ok(seen.every((request) => pairsIntact(request.messages)));
  assert.ok(seen.every((request) => request.messages[0]?.role === 'user' && request.messages[0].content === 'Read sixty pages.'), 'the task is kept');
});

test('an OpenAI model\'s requests are cut by its exact count', async () => {
  const seen: ScriptRequest[] = [];
  const budget = 1500;
  const model = chattyModel(40, 1, seen, 'gpt-4o');
  const result = await runAgent(defineAgent({ name: 'reader', tools: [bigTool], maxContextTokens: budget, limits: { maxSteps: 100 }, model }), 'Read forty pages.');
  assert.is(result.status, 'done', JSON.stringify(result));
  const counter = await tokenCounterFor({ provider: 'openai', model: 'gpt-4o' });
  const exact = seen.map((request) => counter.request(request.messages));
  assert.ok(Math.max(...exact) <= budget, `found ${Math.max(...exact)}`);
  assert.ok(Math.max(...exact) > budget * 0.8);
  assert.ok(seen.every((request) => pairsIntact(request.messages)));
});

test.run();
