// The service's AG-UI 1.0 endpoint over real HTTP: @ag-ui/client's HttpAgent runs the agents (the
// real openai client answering from the scripted model server), and every event of every raw stream
// is also parsed here and checked with @ag-ui/core's schemas, since the client accepts some invalid streams.
import { randomUUID } from 'node:crypto';
import { HttpAgent, type Message } from '@ag-ui/client';
import { EventSchemas } from '@ag-ui/core/schemas';
import fastJsonPatch from 'fast-json-patch';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { call, ran, startService, type TestService } from './fixtures/service.ts';

let s: TestService;
test.before(async () => {
  s = await startService();
});
test.after(async () => {
  await s.close();
});

type Event = { type: string } & Record<string, any>;

/** The events of a raw AG-UI SSE body: each `data:` block is one JSON event. */
function parseSse(text: string): Event[] {
  return text
    .split('\n\n')
    .map((block) => block.split('\n').filter((line) => line.startsWith('data:')).map((line) => line.slice(5).replace(/^ /, '')).join('\n'))
    .filter(Boolean)
    .map((data) => JSON.parse(data) as Event);
}

/**
 * Checks what the client does not: every event passes @ag-ui/core's schemas, the stream opens with
 * RUN_STARTED and closes with RUN_FINISHED or RUN_ERROR, messages and tool calls open before they
 * continue and are closed before the end, and every STATE_DELTA applies to the state before it.
 * Returns the state the stream leaves.
 */
function checkStream(events: Event[]): unknown {
  for (const event of events) {
    const parsed = EventSchemas.safeParse(event);
    assert.ok(parsed.success, `${JSON.stringify(event).slice(0, 300)} is not a valid AG-UI event: ${parsed.error?.message}`);
  }
  assert.is(events[0]?.type, 'RUN_STARTED');
  assert.ok(['RUN_FINISHED', 'RUN_ERROR'].includes(events.at(-1)!.type), `the stream ends with ${events.at(-1)?.type}`);
  assert.equal(events.filter((event) => ['RUN_STARTED', 'RUN_FINISHED', 'RUN_ERROR'].includes(event.type)).length, 2, 'one start and one end');
  const open = new Set<string>();
  let state: unknown;
  for (const event of events) {
    const id = event.messageId ?? event.toolCallId;
    if (event.type === 'TEXT_MESSAGE_START' || event.type === 'TOOL_CALL_START') {
      assert.not.ok(open.has(id), `${id} started twice`);
      open.add(id);
    }
    if (['TEXT_MESSAGE_CONTENT', 'TOOL_CALL_ARGS'].includes(event.type)) assert.ok(open.has(id), `${event.type} of ${id} outside its start and end`);
    if (event.type === 'TEXT_MESSAGE_END' || event.type === 'TOOL_CALL_END') assert.ok(open.delete(id), `${id} ended without a start`);
    if (event.type === 'STATE_SNAPSHOT') state = structuredClone(event.snapshot);
    if (event.type === 'STATE_DELTA') {
      assert.ok(state !== undefined, 'a delta comes after a snapshot');
      state = fastJsonPatch.applyPatch(state, structuredClone(event.delta), true, false).newDocument;
    }
  }
  assert.equal([...open], [], 'every message and tool call was closed');
  return state;
}

/** An HttpAgent on the service with `key`, whose every raw stream is kept (in `streams`) for checkStream. */
function agentFor(key: string, threadId = `thread-${randomUUID()}`, initialMessages: Message[] = []) {
  const streams: Event[][] = [];
  const agent = new HttpAgent({
    url: `${s.url}/v1/agui/support`,
    headers: { authorization: `Bearer ${key}` },
    threadId,
    initialMessages,
    fetch: async (url, init) => {
      const response = await fetch(url, init);
      const text = await response.text();
      if (response.ok) streams.push(parseSse(text));
      return new Response(text, { status: response.status, headers: response.headers });
    },
  });
  return { agent, streams, threadId };
}

const user = (content: string): Message => ({ id: randomUUID(), role: 'user', content });

/** The context of a run at its last record, less its messages: what the AG-UI state should be. */
async function finalState(runId: string) {
  const run = (await call(s, `/v1/runs/${runId}`, { key: s.keys.a })).json;
  const { messages: _messages, ...state } = (await call(s, `/v1/runs/${runId}/state/${run.summary.lastSeq}`, { key: s.keys.a })).json.state.context;
  return state;
}

const postAgui = (key: string, body: unknown) => call(s, '/v1/agui/support', { key, body });

test("HttpAgent runs an agent to completion: its text, the run's thread, and a state that follows the run's patches", async () => {
  const { agent, streams, threadId } = agentFor(s.keys.a, undefined, [user('hello agui')]);
  const seen: string[] = [];
  const result = await agent.runAgent({}, { onEvent: ({ event }) => void seen.push(event.type) });
  const answer = result.newMessages.find((message) => message.role === 'assistant');
  assert.is(answer?.content, 'Echo: hello agui');
  assert.is(result.result, 'Echo: hello agui', "RUN_FINISHED's result is the run's output");
  assert.equal(seen.filter((type) => type.startsWith('RUN_')), ['RUN_STARTED', 'RUN_FINISHED']);
  const [events] = streams;
  const state = checkStream(events!);
  const runs = (await call(s, `/v1/runs?thread=${threadId}`, { key: s.keys.a })).json.runs;
  assert.is(runs.length, 1, 'the AG-UI thread is the run’s thread');
  assert.is(runs[0].status, 'done');
  assert.is(events![0]!.metadata.statecraftRunId, runs[0].runId);
  assert.equal(state, await finalState(runs[0].runId), 'the snapshot and deltas give the run’s last context');
  assert.equal(agent.state, state, 'the client applied them too');
  const finished = events!.at(-1)!;
  assert.equal(finished.outcome, { type: 'success' });
  assert.ok(finished.usage[0].inputTokens > 0, 'usage is reported');
});

test('a tool call streams as TOOL_CALL_START/ARGS/END and TOOL_CALL_RESULT, and a follow-up turn carries the conversation', async () => {
  const { agent, streams } = agentFor(s.keys.a, undefined, [user('look T5')]);
  await agent.runAgent();
  const events = streams[0]!;
  checkStream(events);
  const types = events.map((event) => event.type);
  const start = events.find((event) => event.type === 'TOOL_CALL_START')!;
  assert.is(start.toolCallName, 'lookup');
  assert.is(events.find((event) => event.type === 'TOOL_CALL_ARGS')!.delta, '{"order":"T5"}');
  assert.is(events.find((event) => event.type === 'TOOL_CALL_RESULT')!.content, 'order T5: shipped');
  assert.ok(types.indexOf('TOOL_CALL_END') < types.indexOf('TOOL_CALL_RESULT'));
  const call0 = agent.messages.find((message) => message.role === 'assistant' && message.toolCalls?.length);
  assert.is(call0?.role === 'assistant' && call0.toolCalls?.[0]?.function.name, 'lookup');
  assert.is(agent.messages.at(-1)?.content, 'Done: order T5: shipped');
  // The next turn sends the whole conversation; the run gets it as history, the tool call and result included.
  const asked = s.model.requests.length;
  agent.addMessage(user('and again'));
  await agent.runAgent();
  checkStream(streams[1]!);
  const sent = s.model.requests[asked]!.messages.map((message) => message.role);
  assert.equal(sent, ['system', 'user', 'assistant', 'tool', 'assistant', 'user']);
  assert.is(agent.messages.at(-1)?.content, 'Echo: and again');
});

test('a run that needs approval ends with an interrupt; the next request resumes it with the arguments hash, and it completes', async () => {
  ran.length = 0;
  const { agent, streams, threadId } = agentFor(s.keys.a, undefined, [user('refund Z1')]);
  await agent.runAgent();
  const paused = streams[0]!;
  checkStream(paused);
  const outcome = paused.at(-1)!.outcome;
  assert.is(outcome.type, 'interrupt');
  const [interrupt] = outcome.interrupts;
  assert.is(interrupt.toolCallId, 'call_refund_Z1');
  assert.is(interrupt.metadata.tool, 'refund');
  assert.is(interrupt.metadata.arguments, '{"order":"Z1","amount":25}');
  assert.match(interrupt.metadata.argsHash, /^[0-9a-f]{8,}$/);
  assert.equal(agent.pendingInterrupts.map((pending) => pending.id), [interrupt.id]);
  assert.equal(ran, [], 'nothing ran before the approval');
  const runId = interrupt.metadata.runId;
  assert.is((await call(s, `/v1/runs/${runId}`, { key: s.keys.a })).json.summary.status, 'waiting');
  // A new run of the thread is refused while it waits: its interrupts are to be answered first.
  const refused = await postAgui(s.keys.a, { threadId, runId: 'r2', messages: [user('something else')] });
  assert.is(refused.status, 409);
  assert.match(refused.json.detail, new RegExp(`Thread "${threadId}" has run ${runId} waiting for approval`));
  // A hash for other arguments decides nothing.
  const stale = await postAgui(s.keys.a, { threadId, runId: 'r3', messages: [], resume: [{ interruptId: interrupt.id, status: 'resolved', payload: { approved: true, argsHash: 'feedc0de' } }] });
  assert.is(stale.status, 422);
  assert.match(stale.json.detail, /names arguments hash feedc0de, but the call's arguments hash is/);

  await agent.runAgent({ resume: [{ interruptId: interrupt.id, status: 'resolved', payload: { approved: true, argsHash: interrupt.metadata.argsHash, by: 'lee' } }] });
  const resumed = streams[1]!;
  const state = checkStream(resumed);
  assert.equal(resumed.at(-1)!.outcome, { type: 'success' });
  assert.is(resumed.find((event) => event.type === 'TOOL_CALL_RESULT')?.content, 'refunded 25 on Z1');
  assert.is(agent.messages.at(-1)?.content, 'Done: refunded 25 on Z1');
  assert.equal(agent.pendingInterrupts, []);
  assert.equal(ran, ['refund Z1 25'], 'the approved call ran once');
  assert.equal(state, await finalState(runId), 'the resumed stream’s snapshot and deltas give the run’s last context');
  const history = (await call(s, `/v1/runs/${runId}/history`, { key: s.keys.a })).json;
  assert.match(history.find((entry: { eventType: string }) => entry.eventType === 'APPROVE').event.by, /^lee \(key [0-9a-f]+\)$/);
  const again = await postAgui(s.keys.a, { threadId, runId: 'r4', messages: [], resume: [{ interruptId: interrupt.id, status: 'resolved', payload: { approved: true, argsHash: interrupt.metadata.argsHash } }] });
  assert.is(again.status, 409, 'an answered interrupt is not answered twice');
  assert.match(again.json.detail, new RegExp(`Interrupt .* is not waiting for an answer: run ${runId} is done`));
});

test('a cancelled interrupt rejects the call, and the model is told', async () => {
  ran.length = 0;
  const { agent, streams } = agentFor(s.keys.a, undefined, [user('refund C3')]);
  await agent.runAgent();
  const [interrupt] = agent.pendingInterrupts;
  await agent.runAgent({ resume: [{ interruptId: interrupt!.id, status: 'cancelled' }] });
  checkStream(streams[1]!);
  assert.equal(ran, []);
  assert.is(agent.messages.at(-1)?.content, 'Done: The approval request was cancelled by an AG-UI client.');
});

test("another tenant's key cannot resume a run, nor learn that it exists; keys need the scope of what they ask", async () => {
  ran.length = 0;
  const { agent, threadId } = agentFor(s.keys.a, undefined, [user('refund B2')]);
  await agent.runAgent();
  const [interrupt] = agent.pendingInterrupts;
  const answer = { interruptId: interrupt!.id, status: 'resolved', payload: { approved: true, argsHash: interrupt!.metadata!.argsHash } };
  const other = await postAgui(s.keys.b, { threadId, runId: 'x1', messages: [], resume: [answer] });
  assert.is(other.status, 404);
  assert.is(other.headers.get('content-type'), 'application/problem+json');
  const runId = interrupt!.metadata!.runId as string;
  assert.is(other.json.detail, `No run "${runId}" in your tenant: check the id, or list your runs with GET /v1/runs.`);
  const reader = await s.key('acme', ['runs:read', 'runs:create']);
  const unscoped = await postAgui(reader.key, { threadId, runId: 'x2', messages: [], resume: [answer] });
  assert.is(unscoped.status, 403);
  assert.match(unscoped.json.detail, /does not have the scope "approvals:decide"/);
  const decider = await s.key('acme', ['approvals:decide']);
  assert.is((await postAgui(decider.key, { threadId: 'fresh', runId: 'x3', messages: [user('hi')] })).status, 403, 'starting needs runs:create');
  assert.is((await call(s, `/v1/runs/${runId}`, { key: s.keys.a })).json.summary.status, 'waiting');
  assert.equal(ran, [], 'nothing was decided');
});

test('a malformed RunAgentInput is a 400 problem saying what was wrong; one that cannot be run is a 422', async () => {
  const missing = await postAgui(s.keys.a, { runId: 'r', messages: 'hello' });
  assert.is(missing.status, 400);
  assert.is(missing.headers.get('content-type'), 'application/problem+json');
  assert.equal(missing.json.issues.map((issue: { path: string }) => issue.path).sort(), ['messages', 'threadId']);
  assert.match(missing.json.detail, /^POST \/v1\/agui\/support was refused: at (threadId|messages): /);
  const noPayload = await postAgui(s.keys.a, { threadId: 't', runId: 'r', messages: [], resume: [{ interruptId: 'a/b', status: 'resolved' }] });
  assert.is(noPayload.status, 400);
  assert.equal(noPayload.json.issues, [{ path: 'resume.0.payload', message: 'a resolved interrupt needs a payload {"approved": true|false, "argsHash": "<the interrupt\'s metadata.argsHash>"}' }]);
  const badRole = await postAgui(s.keys.a, { threadId: 't', runId: 'r', messages: [{ id: '1', role: 'robot', content: 'x' }] });
  assert.is(badRole.status, 400);
  assert.is(badRole.json.issues[0].path, 'messages.0.role');
  const noUser = await postAgui(s.keys.a, { threadId: 't', runId: 'r', messages: [{ id: 'm1', role: 'assistant', content: 'hi' }] });
  assert.is(noUser.status, 422);
  assert.match(noUser.json.detail, /Expected the last of the messages to be the user's \(role "user"\), found role "assistant" \(message m1\)/);
  const unknown = await call(s, '/v1/agui/nobody', { key: s.keys.a, body: { threadId: 't', runId: 'r', messages: [user('hi')] } });
  assert.is(unknown.status, 422);
  assert.match(unknown.json.detail, /No agent "nobody" is served here; agents served: support/);
  const document = (await call(s, '/openapi.json')).json;
  assert.ok(document.paths['/v1/agui/{agent}'].post.requestBody, 'the endpoint is in the OpenAPI document');
  assert.ok(document.components.schemas.RunAgentInput);
});

test('a stream the service stops ends with RUN_ERROR saying the run goes on, never cut without an end', async () => {
  const stopping = await startService();
  try {
    const response = await fetch(`${stopping.url}/v1/agui/support`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stopping.keys.a}`, 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({ threadId: 'slow-thread', runId: 'r1', messages: [user('slow answer')] }),
    });
    assert.is(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/);
    let text = '';
    let closing: Promise<void> | undefined;
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      text += Buffer.from(chunk).toString('utf8');
      if (text.includes('RUN_STARTED')) closing ??= stopping.server.close();
    }
    await closing;
    const events = parseSse(text);
    checkStream(events);
    const end = events.at(-1)!;
    assert.is(end.type, 'RUN_ERROR');
    assert.is(end.code, 'stream_stopped');
    assert.match(end.message, new RegExp(`the stream of run ${end.metadata.statecraftRunId} ended; the run goes on`));
  } finally {
    await stopping.close();
  }
});

test.run();
