// A run's beforeModelCall sees each model request before it is sent, and refusing one fails the run
// with the refusal as its reason, without sending it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { z } from 'zod';
import { defineAgent, defineTool, startRun, type ModelCallInfo } from '../src/index.ts';
import { scriptedModel } from '../src/testing/index.ts';

const ping = defineTool({ name: 'ping', description: 'Ping.', parameters: z.object({}), execute: () => 'pong' });

test('each request is shown to beforeModelCall with its step and messages, before it is sent', async () => {
  const model = scriptedModel([{ toolCalls: [{ id: 'c1', name: 'ping', arguments: {} }] }, { content: 'Done.' }]);
  const seen: { step: number; messages: number; sentBefore: number }[] = [];
  const run = startRun(defineAgent({ name: 'a', model, tools: [ping] }), {
    input: 'go',
    beforeModelCall: (call: ModelCallInfo) => void seen.push({ step: call.step, messages: call.messages.length, sentBefore: model.calls.length }),
  });
  const result = await run.result;
  assert.is(result.status, 'done');
  assert.equal(seen.map(({ step, sentBefore }) => [step, sentBefore]), [[0, 0], [1, 1]]);
  assert.ok(seen[1]!.messages > seen[0]!.messages, 'the second request carries the tool result');
});

test('a refusal fails the run with its message, and the request is not sent', async () => {
  const model = scriptedModel([{ toolCalls: [{ id: 'c1', name: 'ping', arguments: {} }] }, { content: 'Done.' }]);
  const run = startRun(defineAgent({ name: 'a', model, tools: [ping] }), {
    input: 'go',
    beforeModelCall: ({ step }) => {
      if (step > 0) throw new Error('Quota "tokensPerMinute" reached: try later.');
    },
  });
  const result = await run.result;
  assert.is(result.status, 'failed');
  assert.match(result.detail ?? '', /Quota "tokensPerMinute" reached: try later\./);
  assert.is(model.calls.length, 1);
});

test.run();
