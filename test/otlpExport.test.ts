// `statecraft run`, `approve` and `resume` with OTEL_EXPORTER_OTLP_ENDPOINT set: what OpenTelemetry's
// OTLP/HTTP exporters send is received on loopback and decoded, and its spans, their parents and
// attributes and the metrics are checked. The scripted model answers through the real openai client.
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cli, cliIn, root } from './fixtures/cli.ts';
import { KIND, startOtlpReceiver, type ReceivedSpan } from './fixtures/otlpReceiver.ts';

const exec = promisify(execFile);
const receiver = await startOtlpReceiver();
const dir = mkdtempSync(join(tmpdir(), 'statecraft-otlp-'));
const { storeUrl, env, trace } = cliIn(dir);

/** The CLI with the receiver as its OTLP endpoint; `--json` output parsed to the run's end event. */
async function statecraft(args: string[], extraEnv: Record<string, string> = {}) {
  const before = receiver.spans.length;
  const done = await exec(process.execPath, [cli, ...args, '--json', '--store', storeUrl], {
    cwd: root,
    env: { ...env, OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, ...extraEnv },
    timeout: 60_000,
  }).then(
    ({ stdout }) => ({ code: 0, stdout }),
    (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, stdout: error.stdout + error.stderr }),
  );
  const end = done.stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { type: string; result?: { runId: string; status: string } })
    .find((event) => event.type === 'end');
  return { ...done, result: end?.result, spans: receiver.spans.slice(before) };
}

const named = (spans: ReceivedSpan[], name: string) => spans.filter((span) => span.name === name);
const one = (spans: ReceivedSpan[], name: string) => {
  const found = named(spans, name);
  assert.is(found.length, 1, `one span ${name}, found ${found.length}: ${spans.map((span) => span.name).join(', ')}`);
  return found[0]!;
};
const childrenOf = (spans: ReceivedSpan[], parent: ReceivedSpan) => spans.filter((span) => span.parentSpanId === parent.spanId).map((span) => span.name).sort();

test('a run of agents that invoke agents: invoke_agent, chat and execute_tool spans nested as the agents ran, with GenAI attributes', async () => {
  const ran = await statecraft(['run', 'examples/compose/agent.ts']);
  assert.is(ran.code, 0, ran.stdout);
  const { spans } = ran;
  assert.ok(receiver.contentTypes.has('application/json'), `sent as JSON: ${[...receiver.contentTypes].join(', ')}`);
  const run = one(spans, 'invoke_agent research-and-write');
  assert.is(run.parentSpanId, '', 'the run is the root of its trace');
  assert.is(run.kind, KIND.internal);
  assert.is(run.service, 'statecraft');
  assert.is(new Set(spans.map((span) => span.traceId)).size, 1, 'one trace');
  assert.equal(run.attributes['gen_ai.operation.name'], 'invoke_agent');
  assert.equal(run.attributes['gen_ai.agent.name'], 'research-and-write');
  assert.equal(run.attributes['gen_ai.conversation.id'], ran.result?.runId);
  assert.equal(run.attributes['statecraft.run.status'], 'done');
  assert.equal(run.attributes['statecraft.run.resumed'], false);

  const researcher = one(spans, 'invoke_agent researcher');
  const writer = one(spans, 'invoke_agent writer');
  assert.equal(childrenOf(spans, run), ['invoke_agent researcher', 'invoke_agent writer']);
  assert.equal(researcher.attributes['gen_ai.agent.name'], 'researcher');
  assert.equal(researcher.attributes['statecraft.run.status'], 'done');
  assert.equal(childrenOf(spans, researcher), ['chat scripted', 'chat scripted', 'execute_tool look_up', 'execute_tool look_up']);
  assert.equal(childrenOf(spans, writer), ['chat scripted']);

  const chats = named(spans, 'chat scripted');
  assert.is(chats.length, 3);
  for (const chat of chats) {
    assert.is(chat.kind, KIND.client);
    assert.equal(chat.attributes['gen_ai.operation.name'], 'chat');
    assert.equal(chat.attributes['gen_ai.provider.name'], 'openai');
    assert.equal(chat.attributes['gen_ai.request.model'], 'scripted');
    assert.equal(chat.attributes['server.address'], '127.0.0.1', 'the scripted server');
    assert.equal(chat.attributes['gen_ai.response.model'], 'scripted');
    assert.ok((chat.attributes['gen_ai.usage.input_tokens'] as number) > 0, 'input tokens');
    assert.ok((chat.attributes['gen_ai.usage.output_tokens'] as number) > 0, 'output tokens');
    assert.ok(chat.start < chat.end);
    assert.is(chat.attributes['gen_ai.output.messages'], undefined, 'no content without opting in');
  }
  assert.equal(chats.map((chat) => chat.attributes['gen_ai.response.finish_reasons']).sort(), [['stop'], ['stop'], ['tool_calls']]);

  const tools = named(spans, 'execute_tool look_up');
  for (const tool of tools) {
    assert.is(tool.kind, KIND.internal);
    assert.equal(tool.attributes['gen_ai.operation.name'], 'execute_tool');
    assert.equal(tool.attributes['gen_ai.tool.name'], 'look_up');
  }
  assert.equal(tools.map((tool) => tool.attributes['gen_ai.tool.call.id']).sort(), ['call_1', 'call_2']);

  const states = run.events.filter((event) => event.name === 'gen_ai.execution.state.changed');
  assert.ok(states.length >= 3, `${states.length} state changes`);
  assert.equal(states.at(-1)!.attributes['statecraft.state'], 'done');
  assert.ok(states.some((event) => (event.attributes['statecraft.patch.operations'] as number) > 0 && (event.attributes['statecraft.patch.bytes'] as number) > 0), 'patch sizes');
  assert.ok(states.every((event) => event.attributes['statecraft.patch'] === undefined), 'no patch content without opting in');
});

test('the run metrics: tokens, model and tool durations, steps, cost and runs by status', async () => {
  const names = new Set(receiver.metrics.map((metric) => metric.name));
  for (const name of ['gen_ai.client.token.usage', 'gen_ai.client.operation.duration', 'statecraft.tool.duration', 'statecraft.runs', 'statecraft.steps', 'statecraft.cost']) {
    assert.ok(names.has(name), `${name} in ${[...names].join(', ')}`);
  }
  const metric = (name: string) => receiver.metrics.find((found) => found.name === name)!;
  assert.is(metric('gen_ai.client.operation.duration').unit, 's');
  assert.is(metric('gen_ai.client.token.usage').unit, '{token}');
  const tokenTypes = metric('gen_ai.client.token.usage').points.map((point) => point.attributes['gen_ai.token.type']).sort();
  assert.equal(tokenTypes, ['input', 'output']);
  assert.equal(metric('gen_ai.client.token.usage').points.map((point) => point.count), [3, 3]);
  assert.equal(metric('statecraft.tool.duration').points.map((point) => [point.attributes['gen_ai.tool.name'], point.count]), [['look_up', 2]]);
  assert.equal(metric('statecraft.runs').points.map((point) => [point.attributes['statecraft.run.status'], point.value]), [['done', 1]]);
  assert.equal(metric('statecraft.steps').points.map((point) => [point.attributes['gen_ai.agent.name'], point.value]).sort(), [['researcher', 2], ['writer', 1]]);
});

test('a run approved in another process continues its trace there and reports no recorded call again', async () => {
  const started = await statecraft(['run', 'test/fixtures/approval/agent.ts', '--approve', 'wait']);
  assert.is(started.code, 4, started.stdout);
  const runId = started.result!.runId;
  const first = one(started.spans, 'invoke_agent mixed-policies');
  assert.equal(first.attributes['statecraft.run.status'], 'waiting');
  assert.equal(childrenOf(started.spans, first), ['await_approval email', 'await_approval write', 'chat scripted']);
  for (const waited of named(started.spans, 'await_approval write').concat(named(started.spans, 'await_approval email'))) {
    assert.equal(waited.attributes['statecraft.approval.decision'], 'pending');
    assert.equal(waited.attributes['gen_ai.tool.call.arguments'], undefined, 'no arguments without opting in');
  }
  assert.equal(named(started.spans, 'execute_tool lookup'), [], 'no tool ran before the decisions');
  assert.equal(one(started.spans, 'chat scripted').attributes['statecraft.step'], 0);
  assert.equal(trace(), []);

  const approved = await statecraft(['approve', runId], { OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: 'true' });
  assert.is(approved.code, 0, approved.stdout);
  const { spans } = approved;
  assert.ok(spans.every((span) => span.traceId === first.traceId), 'the same trace');
  const resumed = one(spans, 'invoke_agent mixed-policies');
  assert.is(resumed.parentSpanId, first.spanId, "the resumed run's span is a child of the run's first span");
  assert.equal(resumed.attributes['statecraft.run.resumed'], true);
  assert.equal(resumed.attributes['statecraft.run.status'], 'done');
  assert.equal(childrenOf(spans, resumed), ['await_approval email', 'await_approval write', 'chat scripted', 'execute_tool email', 'execute_tool lookup', 'execute_tool write']);
  const write = one(spans, 'await_approval write');
  assert.equal(write.attributes['statecraft.approval.decision'], 'approved');
  assert.equal(write.attributes['gen_ai.tool.call.id'], 'c_write');
  assert.equal(write.attributes['gen_ai.tool.call.arguments'], '{"target":"report.md"}', 'arguments sent on opting in');
  // The first model call was recorded by the first process: the second reports only its own.
  assert.equal(named(spans, 'chat scripted').map((chat) => chat.attributes['statecraft.step']), [1]);
  const answer = JSON.parse(String(one(spans, 'chat scripted').attributes['gen_ai.output.messages'])) as { role: string; parts: { content: string }[] }[];
  assert.is(answer[0]!.role, 'assistant');
  assert.match(answer[0]!.parts[0]!.content, /c_lookup=lookup did inventory/);
  assert.equal(trace().sort(), ['email boss@elsewhere.org', 'lookup inventory', 'write report.md'], 'each tool ran once');
  assert.equal(named(spans, 'execute_tool lookup').map((span) => span.attributes['gen_ai.tool.call.id']), ['c_lookup']);
  const waits = receiver.metrics.filter((metric) => metric.name === 'statecraft.approval.wait').flatMap((metric) => metric.points);
  assert.equal(waits.map((point) => [point.attributes['gen_ai.tool.name'], point.attributes['statecraft.approval.decision'], point.count]).sort(), [['email', 'approved', 1], ['write', 'approved', 1]]);
});

test.after(() => receiver.close());

test.run();
