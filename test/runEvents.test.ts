import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { z } from 'zod';
import { createOpenAIModel, defineAgent, defineTool, startRun } from '../src/index.ts';
import type { RunEvent, ToolMessage } from '../src/index.ts';
import { scriptedModel } from '../src/testing/index.ts';
import { withServer } from './fixtures/helpers.ts';

const add = defineTool({
  name: 'add',
  description: 'Add two numbers.',
  parameters: z.object({ a: z.number(), b: z.number() }),
  execute: ({ a, b }) => a + b,
});

const toolMessages = (messages: readonly { role: string }[]) => messages.filter((m): m is ToolMessage => m.role === 'tool');

test('a call with no tool name becomes a tool result that says so, is reported as refused, and the run goes on', async () => {
  const model = scriptedModel([
    { toolCalls: [{ id: 'call_1', arguments: { a: 1, b: 2 } }, { id: 'call_2', name: 'add', arguments: '{"a": 1' }] },
    (request) => {
      const [noName, badJson] = toolMessages(request.messages);
      assert.match(noName!.content, 'Tool call call_1 names no tool');
      assert.match(noName!.content, 'Available tools: add');
      assert.match(badJson!.content, 'could not be parsed as JSON');
      return { toolCalls: [{ id: 'call_3', name: 'add', arguments: { a: 1, b: 2 } }] };
    },
    { content: '3' },
  ]);
  const agent = defineAgent({ name: 'calc', model, tools: [add] });
  const run = startRun(agent, { input: '1 + 2?' });
  const events: RunEvent[] = [];
  run.on((event) => events.push(event));
  const result = await run.result;
  assert.is(result.status, 'done');
  assert.is(result.output, '3');
  const refused = events.filter((e) => e.type === 'tool.refused');
  assert.equal(refused.map((e) => [e.callId, e.tool, e.status]), [['call_1', '', 'invalid'], ['call_2', 'add', 'invalid']]);
  assert.match(refused[1]!.reason, 'could not be parsed as JSON');
  assert.equal(events.filter((e) => e.type === 'tool.start').map((e) => e.callId), ['call_3']);
  model.assertDone();
});

test('a denied call is reported as refused with the policy\'s reason', async () => {
  const model = scriptedModel([{ toolCalls: [{ id: 'c1', name: 'add', arguments: { a: 1, b: 2 } }] }, { content: 'cannot add' }]);
  const agent = defineAgent({ name: 'calc', model, tools: [add], policies: { add: 'deny' } });
  const run = startRun(agent, { input: '1 + 2?' });
  const refused: RunEvent[] = [];
  run.on((event) => event.type === 'tool.refused' && refused.push(event));
  assert.is((await run.result).status, 'done');
  assert.is(refused.length, 1);
  assert.equal(refused[0], { ...refused[0], callId: 'c1', tool: 'add', status: 'denied' });
  model.assertDone();
});

test('a model call retried after a 429 is announced with its attempt, reason and wait', async () => {
  const script = [{ error: { status: 429, message: 'Rate limit reached', headers: { 'retry-after-ms': '5' } } }, { content: 'ok' }];
  await withServer(script, async (url) => {
    const model = createOpenAIModel({ baseURL: url, apiKey: 'test-key', model: 'gpt-4o-mini' });
    const run = startRun(defineAgent({ name: 'a', model }), { input: 'hi' });
    const events: RunEvent[] = [];
    run.on((event) => events.push(event));
    assert.is((await run.result).status, 'done');
    const retry = events.find((e) => e.type === 'model.retry');
    assert.equal(retry, { type: 'model.retry', runId: run.runId, step: 0, attempt: 2, delayMs: 5, reason: 'HTTP 429: Rate limit reached' });
    const answer = events.find((e) => e.type === 'model.answer');
    assert.ok(answer?.type === 'model.answer' && answer.costUsd !== null && answer.costUsd > 0, 'a priced model answers with a cost');
  });
});

test('an answer from a model with no price says its cost is unknown', async () => {
  const model = scriptedModel([{ content: 'hi', usage: { inputTokens: 10, outputTokens: 2 } }], { model: 'my-local-model' });
  const run = startRun(defineAgent({ name: 'a', model }), { input: 'hi' });
  const answers: RunEvent[] = [];
  run.on((event) => event.type === 'model.answer' && answers.push(event));
  await run.result;
  const [answer] = answers as Extract<RunEvent, { type: 'model.answer' }>[];
  assert.is(answers.length, 1);
  const { durationMs, ...rest } = answer!;
  assert.ok(Number.isInteger(durationMs) && durationMs >= 0, `durationMs ${durationMs}`);
  assert.equal(rest, {
    type: 'model.answer',
    runId: run.runId,
    step: 0,
    model: 'my-local-model',
    requestModel: 'my-local-model',
    provider: model.info.provider,
    usage: { inputTokens: 10, outputTokens: 2 },
    costUsd: null,
    finishReason: 'stop',
  });
});

test('a reply withheld by the content filter fails the run with the reason, not an empty final answer', async () => {
  await withServer([{ content: '', finishReason: 'content_filter' }], async (url) => {
    const model = createOpenAIModel({ baseURL: url, apiKey: 'test-key', model: 'gpt-4o-mini' });
    const result = await startRun(defineAgent({ name: 'a', model }), { input: 'hi' }).result;
    assert.is(result.status, 'failed');
    assert.is(result.error?.name, 'ModelBehaviorError');
    assert.match(result.error?.message ?? '', 'content_filter');
  });
});

test("model and tool events of an invoked agent name it; the run's own agent's events name none", async () => {
  const compose = await import('../examples/compose/agent.ts');
  const events: RunEvent[] = [];
  const run = startRun(compose.agent, { input: compose.input, model: scriptedModel(compose.script) });
  run.on((event) => events.push(event));
  assert.is((await run.result).status, 'done');
  const of = (type: RunEvent['type']) => events.filter((event) => event.type === type).map((event) => event.actor);
  assert.ok(of('tool.start').length > 0);
  assert.ok(of('tool.start').every((actor) => actor === 'researcher'), JSON.stringify(of('tool.start')));
  assert.equal([...new Set(of('model.answer'))], ['researcher', 'writer']);
  assert.is(events.find((event) => event.type === 'end')?.actor, undefined);
  const solo = startRun(defineAgent({ name: 'solo', tools: [add], model: scriptedModel([{ toolCalls: [{ id: 'c1', name: 'add', arguments: { a: 1, b: 2 } }] }, { content: '3' }]) }), { input: 'go' });
  const own: RunEvent[] = [];
  solo.on((event) => own.push(event));
  await solo.result;
  assert.ok(own.filter((event) => event.type === 'tool.start' || event.type === 'model.answer').every((event) => event.actor === undefined));
});

test.run();
