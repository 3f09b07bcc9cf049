// A run's OpenTelemetry spans as an application's own SDK receives them, in process.
import { trace } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { z } from 'zod';
import { mapCredentials } from '../src/credentials/credentialsProvider.ts';
import { assign, setup } from 'xstate';
import { agentMachine, createOpenAIModel, defineAgent, defineTool, forkRun, MemoryStore, replayRun, resumeRun, runAgent, startRun } from '../src/index.ts';
import type { AgentInput, AgentOutput } from '../src/index.ts';
import { RunTelemetry } from '../src/telemetry/RunTelemetry.ts';
import { scriptedModel, startScriptedServer } from '../src/testing/index.ts';

const CANARY = 'sk-canary-7Q2v9XfLmN4pR8tW1zK3';

const ran: string[] = [];
const add = defineTool({
  name: 'add',
  description: 'Add two numbers.',
  parameters: z.object({ a: z.number(), b: z.number() }),
  execute: ({ a, b }) => {
    ran.push(`add ${a} ${b}`);
    return { sum: a + b };
  },
});
const token = defineTool({
  name: 'token',
  description: 'Reads the deploy token.',
  parameters: z.object({}),
  secrets: ['deploy_token'],
  execute: async (_args, ctx) => `read ${(await ctx.secrets.get('deploy_token')).length} characters`,
});

const calculator = () =>
  defineAgent({
    name: 'calculator',
    tools: [add],
    model: scriptedModel([{ content: 'Adding.', toolCalls: [{ id: 'c1', name: 'add', arguments: { a: 2, b: 3 } }] }, { content: 'It is 5.' }]),
  });

/** Spans of `body`, exported by a provider of the application's own, registered globally when `global`. */
async function traced(body: (provider: BasicTracerProvider) => Promise<unknown>, { global = false } = {}): Promise<ReadableSpan[]> {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  if (global) trace.setGlobalTracerProvider(provider);
  try {
    await body(provider);
    await provider.forceFlush();
    return exporter.getFinishedSpans();
  } finally {
    if (global) trace.disable();
    await provider.shutdown();
  }
}

const names = (spans: ReadableSpan[]) => spans.map((span) => span.name).sort();

test('a model call that fails is a chat span with error status and error.type, and the run\'s span says why it failed', async () => {
  const model = scriptedModel([{ error: { status: 400, message: 'context length exceeded' } }]);
  const spans = await traced((tracerProvider) => runAgent(defineAgent({ name: 'a', model }), 'hi', { telemetry: { tracerProvider } }));
  assert.equal(names(spans), ['chat scripted', 'invoke_agent a']);
  const chat = spans.find((span) => span.name === 'chat scripted')!;
  assert.is(chat.status.code, 2, 'error');
  assert.match(String(chat.status.message), 'context length exceeded');
  assert.equal(chat.attributes['error.type'], 'ModelCallError');
  const run = spans.find((span) => span.name === 'invoke_agent a')!;
  assert.is(run.status.code, 2);
  assert.equal(run.attributes['statecraft.run.status'], 'failed');
});

test('a model call retried after a 429 is one chat span, and the retry an event on the run\'s span', async () => {
  const server = await startScriptedServer([{ error: { status: 429, message: 'Rate limit reached', headers: { 'retry-after-ms': '5' } } }, { content: 'ok' }]);
  try {
    const model = createOpenAIModel({ baseURL: server.url, apiKey: 'test-key', model: 'gpt-4o-mini' });
    const spans = await traced((tracerProvider) => runAgent(defineAgent({ name: 'a', model }), 'hi', { telemetry: { tracerProvider } }));
    assert.equal(names(spans), ['chat gpt-4o-mini', 'invoke_agent a']);
    const chat = spans.find((span) => span.name === 'chat gpt-4o-mini')!;
    assert.is(chat.status.code, 0, 'unset: the call answered');
    assert.equal(chat.attributes['server.port'], Number(new URL(server.url).port));
    const run = spans.find((span) => span.name === 'invoke_agent a')!;
    assert.equal(
      run.events.filter((event) => event.name === 'statecraft.model.retry').map((event) => event.attributes),
      [{ 'statecraft.attempt': 2, 'statecraft.delay_ms': 5, 'statecraft.reason': 'HTTP 429: Rate limit reached' }],
    );
  } finally {
    await server.close();
  }
});

test('a tracer provider the application registers receives a run\'s spans with no Statecraft setup, and the run records its trace context', async () => {
  ran.length = 0;
  const store = new MemoryStore();
  let runId = '';
  const spans = await traced(
    async () => {
      const result = await runAgent(calculator(), 'What is 2 + 3?', { store });
      runId = result.runId;
    },
    { global: true },
  );
  assert.equal(names(spans), ['chat scripted', 'chat scripted', 'execute_tool add', 'invoke_agent calculator']);
  const run = spans.find((span) => span.name === 'invoke_agent calculator')!;
  assert.ok(spans.every((span) => span === run || span.parentSpanContext?.spanId === run.spanContext().spanId), 'every span is a child of the run');
  const { traceId, spanId } = run.spanContext();
  assert.is((await store.header(runId)).traceparent, `00-${traceId}-${spanId}-01`);
  assert.equal(ran, ['add 2 3']);
});

test('with no SDK registered a run opens no telemetry and records no trace context', async () => {
  assert.is(RunTelemetry.open({ runId: 'r', agent: { name: 'a', version: '1' }, model: { provider: 'p', model: 'm', params: {} } }, undefined), undefined);
  const store = new MemoryStore();
  const result = await runAgent(calculator(), 'What is 2 + 3?', { store });
  assert.is(result.status, 'done');
  assert.is((await store.header(result.runId)).traceparent, undefined);
});

test('telemetry: false reports nothing to a registered provider', async () => {
  const spans = await traced(() => runAgent(calculator(), 'What is 2 + 3?', { telemetry: false }), { global: true });
  assert.equal(spans, []);
});

test('a replay reports no model call and no tool as executed', async () => {
  ran.length = 0;
  const store = new MemoryStore();
  const agent = calculator();
  const recorded = await traced((tracerProvider) => runAgent(agent, 'What is 2 + 3?', { store, telemetry: { tracerProvider } }));
  assert.is(recorded.length, 4);
  const replayed = await traced(async () => {
    const runId = (await store.listRuns())[0]!.runId;
    assert.ok((await replayRun(agent, runId, { store })).ok);
  }, { global: true });
  assert.equal(replayed, []);
  assert.equal(ran, ['add 2 3'], 'the tool ran once');
});

test('message content is sent only on opting in, with the run\'s secrets redacted', async () => {
  const agent = () =>
    defineAgent({
      name: 'leaky',
      tools: [token],
      secrets: ['deploy_token'],
      credentials: mapCredentials({ deploy_token: CANARY }),
      model: scriptedModel([{ toolCalls: [{ id: 't1', name: 'token', arguments: {} }] }, { content: `The token is ${CANARY}.` }]),
    });
  const withContent = await traced((tracerProvider) => runAgent(agent(), 'Read it.', { telemetry: { tracerProvider, content: true } }));
  const answer = withContent.filter((span) => span.name === 'chat scripted').at(-1)!;
  const output = JSON.parse(String(answer.attributes['gen_ai.output.messages'])) as { role: string; parts: { type: string; content: string }[]; finish_reason: string }[];
  assert.equal(output, [{ role: 'assistant', parts: [{ type: 'text', content: 'The token is [redacted:deploy_token].' }], finish_reason: 'stop' }]);
  assert.not.ok(JSON.stringify(withContent.map((span) => [span.attributes, span.events])).includes(CANARY.slice(0, 8)), 'no piece of the secret');
  const without = await traced((tracerProvider) => runAgent(agent(), 'Read it.', { telemetry: { tracerProvider } }));
  assert.ok(without.every((span) => span.attributes['gen_ai.output.messages'] === undefined));
});

test('with content opted in, chat spans carry the input messages and tool spans the arguments and result, redacted; without it, none', async () => {
  const echo = defineTool({
    name: 'echo_token',
    description: 'Returns the deploy token (a tool that leaks).',
    parameters: z.object({ label: z.string() }),
    secrets: ['deploy_token'],
    execute: async ({ label }, ctx) => `${label}: ${await ctx.secrets.get('deploy_token')}`,
  });
  const agent = () =>
    defineAgent({
      name: 'leaky',
      tools: [echo],
      secrets: ['deploy_token'],
      credentials: mapCredentials({ deploy_token: CANARY }),
      model: scriptedModel([{ content: 'Reading.', toolCalls: [{ id: 'e1', name: 'echo_token', arguments: { label: 'token' } }] }, { content: 'Done.' }]),
    });
  const spans = await traced((tracerProvider) => runAgent(agent(), 'Show it.', { telemetry: { tracerProvider, content: true } }));
  const chats = spans.filter((span) => span.name === 'chat scripted');
  assert.is(chats.length, 2);
  const firstOut = JSON.parse(String(chats[0]!.attributes['gen_ai.output.messages']));
  assert.equal(firstOut, [{ role: 'assistant', parts: [{ type: 'text', content: 'Reading.' }, { type: 'tool_call', id: 'e1', name: 'echo_token', arguments: { label: 'token' } }], finish_reason: 'tool_calls' }]);
  const secondIn = JSON.parse(String(chats[1]!.attributes['gen_ai.input.messages'])) as { role: string; parts: Record<string, unknown>[] }[];
  assert.equal(secondIn.map((message) => message.role), ['user', 'assistant', 'tool']);
  assert.equal(secondIn[0]!.parts, [{ type: 'text', content: 'Show it.' }]);
  assert.equal(secondIn[2]!.parts, [{ type: 'tool_call_response', id: 'e1', response: 'token: [redacted:deploy_token]' }]);
  const tool = spans.find((span) => span.name === 'execute_tool echo_token')!;
  assert.is(tool.attributes['gen_ai.tool.call.arguments'], '{"label":"token"}');
  assert.is(tool.attributes['gen_ai.tool.call.result'], 'token: [redacted:deploy_token]');
  assert.not.ok(JSON.stringify(spans.map((span) => [span.attributes, span.events])).includes(CANARY.slice(0, 8)), 'no piece of the secret');

  const without = await traced((tracerProvider) => runAgent(agent(), 'Show it.', { telemetry: { tracerProvider } }));
  for (const key of ['gen_ai.input.messages', 'gen_ai.output.messages', 'gen_ai.tool.call.arguments', 'gen_ai.tool.call.result']) {
    assert.ok(without.every((span) => span.attributes[key] === undefined), `${key} is not sent`);
  }
});

test('patches are sent on state changes only on opting in, as the log records them', async () => {
  const store = new MemoryStore();
  const spans = await traced((tracerProvider) => runAgent(calculator(), 'What is 2 + 3?', { store, telemetry: { tracerProvider, patches: true } }));
  const run = spans.find((span) => span.name === 'invoke_agent calculator')!;
  const changes = run.events.filter((event) => event.name === 'gen_ai.execution.state.changed');
  const runId = String(run.attributes['gen_ai.conversation.id']);
  const records = await store.read(runId);
  const recorded = changes.filter((event) => event.attributes?.['statecraft.record.seq'] !== undefined);
  assert.ok(recorded.length > 3, `${recorded.length} recorded changes`);
  for (const change of recorded) {
    const record = records[Number(change.attributes!['statecraft.record.seq'])]!;
    assert.equal(JSON.parse(String(change.attributes!['statecraft.patch'])), record.patch);
    assert.is(change.attributes!['statecraft.patch.operations'], record.patch.length);
    assert.equal(change.attributes!['statecraft.state'], typeof record.state === 'string' ? record.state : JSON.stringify(record.state));
  }
});

/** A machine of the user's own that invokes a writer agent whose tool needs a person's approval. */
function deskAgent(published: string[]) {
  const publish = defineTool({
    name: 'publish',
    description: 'Publish a text.',
    parameters: z.object({ text: z.string() }),
    needsApproval: true,
    execute: ({ text }) => {
      published.push(text);
      return 'published';
    },
  });
  const writer = defineAgent({ name: 'writer', tools: [publish] });
  const machine = setup({
    types: { input: {} as AgentInput, context: {} as { input: AgentInput; draft: AgentOutput | null }, output: {} as AgentOutput },
    actors: { writer: agentMachine },
  }).createMachine({
    id: 'desk',
    context: ({ input }) => ({ input, draft: null }),
    initial: 'writing',
    states: {
      writing: {
        invoke: {
          id: 'writer',
          src: 'writer',
          input: ({ context }) => ({ ...context.input, runId: `${context.input.runId}/writer` }),
          onDone: { target: 'done', actions: assign({ draft: ({ event }) => event.output }) },
        },
      },
      done: { type: 'final' },
    },
    output: ({ context }) => context.draft!,
  });
  return defineAgent({ name: 'desk', machine, agents: { writer } });
}

const deskScript = () => scriptedModel([{ toolCalls: [{ id: 'p1', name: 'publish', arguments: { text: 'hello' } }] }, { content: 'Published.' }]);

const childOf = (spans: ReadableSpan[], parent: ReadableSpan) => spans.filter((span) => span.parentSpanContext?.spanId === parent.spanContext().spanId);

test('an invoked agent\'s model calls, tools and approval waits are spans under its own invoke_agent span', async () => {
  const published: string[] = [];
  const spans = await traced(async (tracerProvider) => {
    const run = startRun(deskAgent(published), { input: 'go', model: deskScript(), telemetry: { tracerProvider } });
    run.on((event) => {
      if (event.type === 'approval.requested') for (const call of event.calls) run.approve(call.id, { by: 'ana', actor: call.actor, argsHash: call.argsHash });
    });
    assert.is((await run.result).status, 'done');
  });
  const host = spans.find((span) => span.name === 'invoke_agent desk')!;
  const invoked = spans.find((span) => span.name === 'invoke_agent writer')!;
  assert.is(invoked.parentSpanContext?.spanId, host.spanContext().spanId);
  assert.equal(invoked.attributes['statecraft.actor'], 'writer');
  assert.equal(invoked.attributes['statecraft.run.status'], 'done');
  const under = childOf(spans, invoked);
  assert.equal(names(under), ['await_approval publish', 'chat scripted', 'chat scripted', 'execute_tool publish']);
  const waited = under.find((span) => span.name === 'await_approval publish')!;
  assert.equal(waited.attributes, {
    'gen_ai.tool.name': 'publish',
    'gen_ai.tool.call.id': 'p1',
    'statecraft.actor': 'writer',
    'statecraft.approval.decision': 'approved',
    'statecraft.approval.by': 'ana',
  });
  assert.equal(published, ['hello']);
});

test('a run resumed while an invoked agent waits continues the trace: the agent is spanned again in the new process, its recorded model call is not', async () => {
  const published: string[] = [];
  const store = new MemoryStore();
  const model = deskScript();
  const spans = await traced(async (tracerProvider) => {
    const first = startRun(deskAgent(published), { input: 'go', model, store, telemetry: { tracerProvider } });
    first.on((event) => event.type === 'approval.requested' && void first.detach());
    assert.is((await first.result).status, 'waiting');
    const resumed = await resumeRun(deskAgent(published), first.runId, { store, model, telemetry: { tracerProvider } });
    resumed.approve('p1', { by: 'ana', actor: 'writer' });
    assert.is((await resumed.result).status, 'done');
  });
  const [before, after] = spans.filter((span) => span.name === 'invoke_agent desk').sort((a, b) => Number(a.attributes['statecraft.run.resumed']) - Number(b.attributes['statecraft.run.resumed']));
  assert.is(after!.parentSpanContext?.spanId, before!.spanContext().spanId);
  assert.ok(spans.every((span) => span.spanContext().traceId === before!.spanContext().traceId), 'one trace');
  const [writerBefore] = childOf(spans, before!);
  const [writerAfter] = childOf(spans, after!);
  assert.equal([writerBefore!.name, writerAfter!.name], ['invoke_agent writer', 'invoke_agent writer']);
  assert.equal(names(childOf(spans, writerBefore!)), ['await_approval publish', 'chat scripted']);
  assert.equal(childOf(spans, writerBefore!).find((span) => span.name === 'await_approval publish')!.attributes['statecraft.approval.decision'], 'pending');
  assert.equal(names(childOf(spans, writerAfter!)), ['await_approval publish', 'chat scripted', 'execute_tool publish']);
  assert.equal(childOf(spans, writerAfter!).find((span) => span.name === 'chat scripted')!.attributes['statecraft.step'], 1);
  assert.equal(published, ['hello']);
});

test('a fork is a trace of its own, linked to its parent\'s, and a resume of the fork in any process continues it', async () => {
  const store = new MemoryStore();
  let parentRoot: ReadableSpan | undefined;
  let forkId = '';
  const spans = await traced(async (tracerProvider) => {
    const parent = startRun(calculator(), { input: 'add', store, telemetry: { tracerProvider } });
    assert.is((await parent.result).status, 'done');
    forkId = await forkRun(store, parent.runId, 1, { telemetry: { tracerProvider } });
    const resumed = await resumeRun(calculator(), forkId, { store, model: scriptedModel([{ content: 'Forked answer.' }]), telemetry: { tracerProvider } });
    assert.is((await resumed.result).status, 'done');
  });
  parentRoot = spans.find((span) => span.name === 'invoke_agent calculator' && span.attributes['statecraft.run.resumed'] === false);
  const fork = spans.find((span) => span.name === 'fork_run calculator')!;
  assert.ok(fork, 'a fork_run span');
  assert.is(fork.parentSpanContext, undefined, 'the root of its trace');
  assert.is.not(fork.spanContext().traceId, parentRoot!.spanContext().traceId);
  assert.equal(fork.links.map((link) => link.context.spanId), [parentRoot!.spanContext().spanId]);
  assert.equal([fork.attributes['statecraft.fork.parent.run_id'], fork.attributes['statecraft.fork.parent.seq']], [parentRoot!.attributes['statecraft.run.id'], 1]);
  const header = await store.header(forkId);
  assert.is(header.traceparent, `00-${fork.spanContext().traceId}-${fork.spanContext().spanId}-01`);
  const resumes = spans.filter((span) => span.attributes['statecraft.run.id'] === forkId && span.name === 'invoke_agent calculator');
  assert.is(resumes.length, 1);
  assert.is(resumes[0]!.parentSpanContext?.spanId, fork.spanContext().spanId, 'the resume continues the fork\'s trace');
});

test('a fork made with no SDK registered records no trace context', async () => {
  const store = new MemoryStore();
  const parent = startRun(calculator(), { input: 'add', store });
  await parent.result;
  const forkId = await forkRun(store, parent.runId, 1);
  assert.is((await store.header(forkId)).traceparent, undefined);
});

test.run();
