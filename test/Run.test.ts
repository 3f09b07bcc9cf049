import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { z } from 'zod';
import { defineAgent, defineTool, MemoryStore, startRun, stateAt, runAgent, UserError } from '../src/index.ts';
import type { ModelPort, RunEvent, ToolMessage } from '../src/index.ts';
import { scriptedModel } from '../src/testing/index.ts';

const echo = (calls: string[]) =>
  defineTool({
    name: 'echo',
    description: 'Echo the text back.',
    parameters: z.object({ text: z.string() }),
    execute: ({ text }) => {
      calls.push(text);
      return `echo: ${text}`;
    },
  });

const toolMessages = (messages: readonly { role: string }[]) => messages.filter((m): m is ToolMessage => m.role === 'tool');

test('a final answer ends the run as done with the answer as output', async () => {
  const model = scriptedModel([{ content: 'Hello.' }]);
  const agent = defineAgent({ name: 'a', model });
  const result = await runAgent(agent, 'hi');
  assert.is(result.status, 'done');
  assert.is(result.reason, 'final_answer');
  assert.is(result.output, 'Hello.');
  assert.is(result.steps, 1);
  model.assertDone();
});

test('tool calls run, their results reach the model in call order, and usage is summed', async () => {
  const calls: string[] = [];
  const model = scriptedModel([
    {
      toolCalls: [
        { id: 'c1', name: 'echo', arguments: { text: 'one' } },
        { id: 'c2', name: 'echo', arguments: { text: 'two' } },
      ],
      usage: { inputTokens: 10, outputTokens: 5 },
    },
    (request) => {
      const results = toolMessages(request.messages);
      assert.equal(results.map((m) => [m.toolCallId, m.content]), [['c1', 'echo: one'], ['c2', 'echo: two']]);
      return { content: 'done', usage: { inputTokens: 20, outputTokens: 2 } };
    },
  ]);
  const agent = defineAgent({ name: 'a', model, tools: [echo(calls)] });
  const result = await runAgent(agent, 'go');
  assert.is(result.status, 'done');
  assert.equal(calls.sort(), ['one', 'two']);
  assert.equal(result.usage, { inputTokens: 30, outputTokens: 7 });
  model.assertDone();
});

test('bad tool calls never run a tool and each becomes a result the model can read', async () => {
  const calls: string[] = [];
  const model = scriptedModel([
    {
      toolCalls: [
        { id: 'a', name: 'nope', arguments: {} },
        { id: 'b', name: 'echo', arguments: '{"text": ' },
        { id: 'c', name: 'echo', arguments: { text: 7 } },
        { id: '', name: 'echo', arguments: { text: 'no id' } },
        { id: 'e', name: 'echo', arguments: { text: 'fine' } },
      ],
    },
    (request) => {
      const results = toolMessages(request.messages);
      assert.is(results.length, 5);
      assert.match(results[0]!.content, /no tool named "nope"/);
      assert.match(results[1]!.content, /could not be parsed as JSON/);
      assert.match(results[2]!.content, /expected string/);
      assert.match(results[3]!.content, /had no id/);
      assert.is(results[4]!.content, 'echo: fine');
      const ids = new Set(results.map((m) => m.toolCallId));
      assert.is(ids.size, 5, 'every call, even the one without an id, gets its own result id');
      return { content: 'ok' };
    },
  ]);
  const result = await runAgent(defineAgent({ name: 'a', model, tools: [echo(calls)] }), 'go');
  assert.is(result.status, 'done');
  assert.equal(calls, ['fine']);
});

test('a model that keeps making bad calls is stopped by the step limit', async () => {
  const model = scriptedModel((index) => (index < 10 ? { toolCalls: [{ name: 'missing', arguments: {} }] } : undefined));
  const agent = defineAgent({ name: 'a', model, limits: { maxSteps: 3 } });
  const result = await runAgent(agent, 'go');
  assert.is(result.status, 'halted');
  assert.is(result.reason, 'step_limit');
  assert.is(result.steps, 3);
  assert.is(model.calls.length, 3);
});

test('a token budget halts the run before the next tool runs', async () => {
  const calls: string[] = [];
  const model = scriptedModel([
    { toolCalls: [{ name: 'echo', arguments: { text: 'x' } }], usage: { inputTokens: 900, outputTokens: 200 } },
  ]);
  const agent = defineAgent({ name: 'a', model, tools: [echo(calls)], limits: { maxTokens: 1000 } });
  const result = await runAgent(agent, 'go');
  assert.is(result.status, 'halted');
  assert.is(result.reason, 'token_budget');
  assert.equal(calls, []);
});

test('a cost budget is priced from the table and halts the run', async () => {
  const model = scriptedModel(
    (index) => (index < 5 ? { toolCalls: [{ name: 'echo', arguments: { text: 'x' } }], usage: { inputTokens: 1_000_000, outputTokens: 0 } } : undefined),
    { model: 'priced' },
  );
  const agent = defineAgent({
    name: 'a',
    model,
    tools: [echo([])],
    limits: { maxCostUsd: 2.5 },
    prices: { priced: { inputPerMTok: 1, outputPerMTok: 2 } },
  });
  const result = await runAgent(agent, 'go');
  assert.is(result.reason, 'cost_budget');
  assert.is(result.steps, 3);
  assert.is(result.costUsd, 3);
});

test('a reply named after a model the table does not list is priced as the model asked for', async () => {
  const scripted = scriptedModel(
    (index) => (index < 5 ? { toolCalls: [{ name: 'echo', arguments: { text: 'x' } }], usage: { inputTokens: 1_000_000, outputTokens: 0 } } : undefined),
    { model: 'gpt-4o-mini' },
  );
  // A gateway that answers as 'openai/gpt-4o-mini' for the 'gpt-4o-mini' it was asked for.
  const model: ModelPort = { info: scripted.info, complete: async (request) => ({ ...(await scripted.complete(request)), model: 'openai/gpt-4o-mini' }) };
  const agent = defineAgent({ name: 'a', model, tools: [echo([])], limits: { maxCostUsd: 0.01 } });
  const result = await runAgent(agent, 'go');
  assert.is(result.reason, 'cost_budget');
  assert.is(result.steps, 1);
  assert.ok(Math.abs(result.costUsd - 0.15) < 1e-9, `expected $0.15, got ${result.costUsd}`);
});

test('a reply from a model the table lists is priced as that model', async () => {
  const scripted = scriptedModel([{ content: 'done', usage: { inputTokens: 1_000_000, outputTokens: 0 } }], { model: 'gpt-4o-mini' });
  const model: ModelPort = { info: scripted.info, complete: async (request) => ({ ...(await scripted.complete(request)), model: 'gpt-4o-2024-08-06' }) };
  const result = await runAgent(defineAgent({ name: 'a', model, limits: { maxCostUsd: 10 } }), 'go');
  assert.is(result.status, 'done');
  assert.ok(Math.abs(result.costUsd - 2.5) < 1e-9, `expected $2.50, got ${result.costUsd}`);
});

test('a cost budget for a model with no known price is refused when the agent is defined', () => {
  const model = scriptedModel([], { model: 'mystery-model' });
  assert.throws(() => defineAgent({ name: 'a', model, limits: { maxCostUsd: 1 } }), (error: unknown) => {
    return error instanceof UserError && /mystery-model/.test(error.message) && /prices/.test(error.message);
  });
});

test('the deadline halts a run that is waiting on a slow model', async () => {
  const model = scriptedModel([{ content: 'late', delayMs: 5_000 }]);
  const agent = defineAgent({ name: 'a', model, limits: { timeoutMs: 50 } });
  const result = await runAgent(agent, 'go');
  assert.is(result.status, 'halted');
  assert.is(result.reason, 'deadline');
});

test('stopWhen ends the run as done after a turn', async () => {
  const model = scriptedModel((index) => (index < 10 ? { toolCalls: [{ name: 'echo', arguments: { text: String(index) } }] } : undefined));
  const agent = defineAgent({ name: 'a', model, tools: [echo([])], stopWhen: (context) => context.step >= 2 });
  const result = await runAgent(agent, 'go');
  assert.is(result.status, 'done');
  assert.is(result.reason, 'stop_when');
  assert.is(model.calls.length, 2);
});

test('cancel aborts the tool in flight and ends the run as cancelled', async () => {
  let sawAbort = false;
  const slow = defineTool({
    name: 'slow',
    description: 'Waits.',
    parameters: z.object({}),
    execute: (_args, ctx) =>
      new Promise((resolve) => {
        setImmediate(() => run.cancel('user pressed stop'));
        ctx.signal.addEventListener('abort', () => {
          sawAbort = true;
          resolve('aborted');
        });
      }),
  });
  const model = scriptedModel([{ toolCalls: [{ name: 'slow', arguments: {} }] }]);
  const run = startRun(defineAgent({ name: 'a', model, tools: [slow] }), { input: 'go' });
  const result = await run.result;
  assert.is(result.status, 'cancelled');
  assert.is(result.detail, 'user pressed stop');
  assert.ok(sawAbort, 'the tool saw its signal abort');
});

test('cancel aborts the model call in flight', async () => {
  let modelSignal: AbortSignal | undefined;
  const model: ModelPort = {
    info: { provider: 'slow', model: 'slow', params: {} },
    complete: (request) => {
      modelSignal = request.signal;
      return new Promise(() => {});
    },
  };
  const controller = new AbortController();
  const run = startRun(defineAgent({ name: 'a', model }), { input: 'go', signal: controller.signal });
  setTimeout(() => controller.abort(), 20);
  const result = await run.result;
  assert.is(result.status, 'cancelled');
  assert.is(modelSignal?.aborted, true, "the model call's signal was aborted");
});

test('a tool that needs approval waits; approve and reject move each call on its own', async () => {
  const calls: string[] = [];
  const guarded = defineTool({
    name: 'write',
    description: 'Writes.',
    parameters: z.object({ text: z.string() }),
    needsApproval: true,
    execute: ({ text }) => {
      calls.push(text);
      return 'written';
    },
  });
  const model = scriptedModel([
    {
      toolCalls: [
        { id: 'w1', name: 'write', arguments: { text: 'keep' } },
        { id: 'w2', name: 'write', arguments: { text: 'drop' } },
      ],
    },
    (request) => {
      const results = toolMessages(request.messages);
      assert.equal(results.map((m) => m.toolCallId), ['w1', 'w2']);
      assert.is(results[0]!.content, 'written');
      assert.is(results[1]!.content, 'not this one');
      return { content: 'ok' };
    },
  ]);
  const run = startRun(defineAgent({ name: 'a', model, tools: [guarded] }), { input: 'go' });
  const events: RunEvent[] = [];
  run.on((event) => {
    events.push(event);
    if (event.type === 'approval.requested') setImmediate(() => {
      assert.equal(event.calls.map((c) => [c.id, c.arguments]), [['w1', '{"text":"keep"}'], ['w2', '{"text":"drop"}']], 'each call comes with the arguments a person decides on');
      assert.throws(() => run.approve('zzz'), /no tool call zzz/);
      run.reject('w2', 'not this one');
      assert.equal(run.pendingApprovals.map((c) => c.id), ['w1']);
      run.approve('w1');
      assert.throws(() => run.approve('w1'), /not waiting for approval|no tool call w1/);
    });
  });
  const result = await run.result;
  assert.is(result.status, 'done');
  assert.equal(calls, ['keep']);
  assert.ok(events.some((event) => event.type === 'approval.requested'));
});

test('model failures end the run as failed with the error', async () => {
  const model = scriptedModel([{ error: { status: 401, message: 'bad key' } }]);
  const result = await runAgent(defineAgent({ name: 'a', model }), 'go');
  assert.is(result.status, 'failed');
  assert.is(result.reason, 'error');
  assert.ok(result.error);
});

test('text deltas stream to listeners while only the final message enters state', async () => {
  const model = scriptedModel([{ content: 'a streamed answer that arrives in pieces' }]);
  const run = startRun(defineAgent({ name: 'a', model }), { input: 'go' });
  const deltas: string[] = [];
  run.on((event) => event.type === 'delta' && deltas.push(event.text));
  const result = await run.result;
  assert.ok(deltas.length > 1);
  assert.is(deltas.join(''), result.output);
  assert.is(run.context.messages.filter((m) => m.role === 'assistant').length, 1);
});


test("a tool's idempotency key is the same for its retries and different for a later call that reuses the call id", async () => {
  const keys: [number, string][] = [];
  let failOnce = true;
  const pay = defineTool({
    name: 'pay',
    description: 'Pay an amount.',
    parameters: z.object({ amount: z.number() }),
    retries: { max: 1, backoffMs: 1 },
    execute: ({ amount }, ctx) => {
      keys.push([amount, ctx.idempotencyKey]);
      if (failOnce) {
        failOnce = false;
        throw new Error('the payment service timed out');
      }
      return 'paid';
    },
  });
  const model = scriptedModel([
    { toolCalls: [{ id: 'call_0', name: 'pay', arguments: { amount: 10 } }] },
    { toolCalls: [{ id: 'call_0', name: 'pay', arguments: { amount: 25 } }] },
    { content: 'Paid twice.' },
  ]);
  const result = await runAgent(defineAgent({ name: 'a', model, tools: [pay] }), 'pay 10 then 25');
  assert.is(result.status, 'done');
  assert.equal(keys.map(([amount]) => amount), [10, 10, 25]);
  assert.is(keys[0]![1], keys[1]![1], 'a retry keeps its key');
  assert.is.not(keys[1]![1], keys[2]![1], 'another call with the same id gets another key');
  assert.ok(keys[2]![1].startsWith(`${result.runId}:`));
});

test('a run deadline or approval deadline 30 days off does not fire at once', async () => {
  const days30 = 30 * 24 * 3600 * 1000;
  const slow = scriptedModel([{ content: 'Done.', delayMs: 30 }]);
  const result = await runAgent(defineAgent({ name: 'a', model: slow, limits: { timeoutMs: days30 } }), 'hi');
  assert.is(result.reason, 'final_answer');
  const model = scriptedModel([{ toolCalls: [{ id: 'c1', name: 'echo', arguments: { text: 'x' } }] }, { content: 'ok' }]);
  const tool = defineTool({ name: 'echo', description: 'Echo.', parameters: z.object({ text: z.string() }), needsApproval: true, execute: ({ text }) => text });
  const run = startRun(defineAgent({ name: 'b', model, tools: [tool], approval: { timeoutMs: days30 } }), { input: 'go' });
  await new Promise<void>((resolve) => run.on((event) => event.type === 'approval.requested' && resolve()));
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(run.pendingApprovals.map((call) => call.id), ['c1'], 'still waiting for a person');
  run.cancel();
  await run.result;
});

test('tool calls whose fields are not strings (arguments as an object or a number, a null call) are answered, never crash the run', async () => {
  const calls: string[] = [];
  let turn = 0;
  const model: ModelPort = {
    info: { provider: 'raw', model: 'raw', params: {} },
    complete: async () => {
      const toolCalls = [{ id: 'obj', name: 'echo', arguments: { text: 'as object' } }, { id: 'num', name: 'echo', arguments: 7 }, null];
      const message = turn++ === 0 ? { role: 'assistant', content: null, toolCalls } : { role: 'assistant', content: 'ok' };
      return { message, usage: { inputTokens: 1, outputTokens: 1 }, model: 'raw' } as never;
    },
  };
  const run = startRun(defineAgent({ name: 'a', model, tools: [echo(calls)] }), { input: 'go' });
  const result = await run.result;
  assert.is(result.status, 'done');
  assert.equal(calls, ['as object']);
  const results = toolMessages(run.context.messages);
  assert.is(results.length, 3);
  assert.match(results[1]!.content, /were a number, not a JSON object/);
  assert.match(results[2]!.content, /had no id/);
});

test('a listener that throws is reported as a warning and the run goes on', async () => {
  const warnings: string[] = [];
  const onWarning = (warning: Error) => warnings.push(warning.message);
  process.on('warning', onWarning);
  const run = startRun(defineAgent({ name: 'a', model: scriptedModel([{ content: 'Hello there.' }]) }), { input: 'hi' });
  run.on((event) => {
    if (event.type === 'delta') throw new Error('listener bug');
  });
  const result = await run.result;
  await new Promise((resolve) => setImmediate(resolve));
  process.off('warning', onWarning);
  assert.is(result.status, 'done');
  assert.is(result.output, 'Hello there.');
  assert.ok(warnings.some((message) => message.includes('listener bug') && message.includes(run.runId)), warnings.join('; '));
});

test("a turn's tool calls run concurrently up to toolConcurrency, results in call order; the default step limit is 20", async () => {
  let running = 0;
  let peak = 0;
  const wait = defineTool({
    name: 'wait',
    description: 'Wait a little.',
    parameters: z.object({ n: z.number() }),
    execute: async ({ n }) => {
      peak = Math.max(peak, ++running);
      await new Promise((resolve) => setTimeout(resolve, 15 - n * 2));
      running--;
      return `waited ${n}`;
    },
  });
  const calls = [0, 1, 2, 3, 4].map((n) => ({ id: `w${n}`, name: 'wait', arguments: { n } }));
  const model = scriptedModel([{ toolCalls: calls }, { content: 'done' }]);
  const run = startRun(defineAgent({ name: 'a', model, tools: [wait], toolConcurrency: 2 }), { input: 'go' });
  assert.is((await run.result).status, 'done');
  assert.is(peak, 2);
  assert.equal(toolMessages(run.context.messages).map((m) => m.content), [0, 1, 2, 3, 4].map((n) => `waited ${n}`));
  const looping = scriptedModel(() => ({ toolCalls: [{ name: 'wait', arguments: { n: 7 } }] }));
  const limited = await runAgent(defineAgent({ name: 'b', model: looping, tools: [wait] }), 'go');
  assert.is(limited.reason, 'step_limit');
  assert.is(limited.steps, 20);
});

test('a tool runs with the very arguments its policy judged, even when the schema fills in a fresh default', async () => {
  let issued = 0;
  const judged: string[] = [];
  const ran: string[] = [];
  const order = defineTool({
    name: 'order',
    description: 'Place an order.',
    parameters: z.object({ item: z.string(), ref: z.string().default(() => `ref-${issued++}`) }),
    policy: (args: { ref: string }) => {
      judged.push(args.ref);
      return 'allow';
    },
    execute: ({ ref }) => {
      ran.push(ref);
      return 'ordered';
    },
  });
  const model = scriptedModel([{ toolCalls: [{ id: 'o1', name: 'order', arguments: { item: 'tea' } }] }, { content: 'done' }]);
  assert.is((await runAgent(defineAgent({ name: 'a', model, tools: [order] }), 'go')).status, 'done');
  assert.is(ran.length, 1);
  assert.equal(ran, judged);
});

test('a side effect is not started once `holds` says the process no longer holds the run: the call stays started on record, for its next holder', async () => {
  const calls: string[] = [];
  const model = scriptedModel([{ toolCalls: [{ id: 'c1', name: 'echo', arguments: { text: 'one' } }] }]);
  const agent = defineAgent({ name: 'a', model, tools: [echo(calls)] });
  const store = new MemoryStore();
  let asked = 0;
  const run: ReturnType<typeof startRun> = startRun(agent, {
    input: 'go',
    store,
    holds: () => {
      // Held for the model request; lost by the time the tool call's start is on record.
      if (++asked === 1) return true;
      run.abandon(new Error('lease lost'));
      return false;
    },
  });
  const error = await run.result.then(() => undefined, (reason: Error) => reason);
  assert.is(error?.message, 'lease lost');
  assert.is(asked, 2, 'asked before the model request and before the tool call');
  assert.equal(calls, [], 'the tool never ran');
  const { lastSeq } = await store.summary(run.runId);
  const { context } = (await stateAt(store, run.runId, lastSeq)) as { context: { turn: { calls: { id: string; status: string }[] } } };
  assert.equal(context.turn.calls.map((call) => [call.id, call.status]), [['c1', 'running']]);
});

test('a model given to the run is the one asked, over the agent\'s own port, and the one its header records', async () => {
  const own = scriptedModel([{ content: 'from the agent\'s own model' }]);
  const given = scriptedModel([{ content: 'from the model given to the run' }]);
  const agent = defineAgent({ name: 'a', model: own });
  const store = new MemoryStore();
  const run = startRun(agent, { input: 'hi', store, model: given });
  const result = await run.result;
  assert.is(result.output, 'from the model given to the run');
  given.assertDone();
  assert.equal((await store.header(run.runId)).model, given.info);
});

test.run();
