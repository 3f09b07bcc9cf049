import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { assign, setup } from 'xstate';
import { z } from 'zod';
import { agentMachine, defineAgent, defineTool, SqliteStore, startRun } from '../src/index.ts';
import type { AgentInput, AgentOutput, PendingCall } from '../src/index.ts';
import { replayRun } from '../src/runtime/replayRun.ts';
import { stateAt } from '../src/log/reads/reads.ts';
import { stepView } from '../src/inspector/stateCache.ts';
import { waitingNote } from '../src/cli/logCommands.ts';
import { resumeRun } from '../src/runtime/resumeRun.ts';
import { scriptedModel, type Script } from '../src/testing/index.ts';
import { pairAgent } from './fixtures/pair/agent.ts';

const dir = mkdtempSync(join(tmpdir(), 'statecraft-child-approvals-'));
let n = 0;

/** A tool that needs a person's approval; what it publishes is pushed to `published`. */
const publishTool = (published: string[]) =>
  defineTool({
    name: 'publish',
    description: 'Publish a text.',
    parameters: z.object({ text: z.string() }),
    needsApproval: true,
    execute: ({ text }) => {
      published.push(text);
      return 'published';
    },
  });

/** A machine of the user's own that invokes one agent, whose tool needs a person's approval. */
function composed(published: string[], approval?: { timeoutMs: number; onTimeout: 'reject' | 'approve' }) {
  const publish = publishTool(published);
  const writer = defineAgent({ name: 'writer', instructions: 'Write, then publish.', tools: [publish], ...(approval ? { approval } : {}) });
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
          input: ({ context }) => ({ ...context.input, runId: `${context.input.runId}/writer`, instructions: writer.instructions, approval: writer.approval }),
          onDone: { target: 'done', actions: assign({ draft: ({ event }) => event.output }) },
        },
      },
      done: { type: 'final' },
    },
    output: ({ context }) => context.draft!,
  });
  return defineAgent({ name: 'desk', machine, agents: { writer } });
}

/** Fails instead of hanging when an awaited event never comes. */
async function within<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<never>((_, fail) => (timer = setTimeout(() => fail(new Error(`timed out waiting for ${what}`)), 5000)))]);
  } finally {
    clearTimeout(timer);
  }
}

const script: Script = [{ toolCalls: [{ id: 'p1', name: 'publish', arguments: { text: 'hello' } }] }, { content: 'Published.' }];

test('an invoked agent that waits for approval makes the run wait: the call is listed, announced and decided through the run', async () => {
  const published: string[] = [];
  const store = new SqliteStore({ path: join(dir, `runs-${n++}.db`) });
  const run = startRun(composed(published), { input: 'go', model: scriptedModel(script), store });
  const requested = await within(
    new Promise<PendingCall[]>((done) => run.on((event) => event.type === 'approval.requested' && done(event.calls))),
    'approval.requested',
  );
  assert.equal(requested.map((call) => [call.id, call.name, call.actor, call.arguments]), [['p1', 'publish', 'writer', '{"text":"hello"}']]);
  assert.equal(run.pendingApprovals.map((call) => [call.id, call.actor]), [['p1', 'writer']]);
  await run.durable();
  const summary = await store.summary(run.runId);
  assert.is(summary.status, 'waiting', 'listings show the run as waiting');
  assert.equal((summary.waitingOn as Array<{ callId: string; actor?: string }>).map((entry) => [entry.callId, entry.actor]), [['p1', 'writer']]);
  assert.match(waitingNote(summary.waitingOn), /^waits on publish\(\{"text":"hello"\}\) p1 in writer/, 'statecraft runs names the agent');
  const [last] = await store.read(run.runId, { from: summary.lastSeq, to: summary.lastSeq });
  const view = stepView(await stateAt(store, run.runId, summary.lastSeq), last!);
  assert.equal(view.pending.map((call) => [call.callId, call.tool, call.actor, call.arguments]), [['p1', 'publish', 'writer', { text: 'hello' }]], 'the inspector shows it');
  assert.throws(() => run.approve('p1', { arguments: { text: 7 } }), /not valid, so nothing was approved/, 'edited arguments are checked by the invoked agent\u2019s tools');
  assert.equal(published, []);
  run.approve('p1', { by: 'editor' });
  const result = await within(run.result, 'the run to end');
  assert.is(result.status, 'done');
  assert.equal(published, ['hello']);
  const report = await replayRun(composed([]), run.runId, { store });
  assert.ok(report.ok, JSON.stringify(report.divergence));
  await store.close();
});

test('a run waiting in an invoked agent is detached, resumed in a new handle and rejected there', async () => {
  const published: string[] = [];
  const agent = composed(published);
  const store = new SqliteStore({ path: join(dir, `runs-${n++}.db`) });
  const first = startRun(agent, { input: 'go', model: scriptedModel(script), store });
  await within(new Promise<void>((done) => first.on((event) => event.type === 'approval.requested' && done())), 'approval.requested');
  const detached = await first.detach();
  assert.is(detached.status, 'waiting');
  assert.is(detached.reason, 'awaiting_approval', 'a run let go while it waits did not fail');
  assert.is(detached.detail, 'Waiting for approval of p1 (publish in writer).', 'the calls are listed as they were before the actor stopped');
  const resumed = await resumeRun(agent, first.runId, { store, model: scriptedModel(script.slice(1)) });
  await within(
    new Promise<void>((done) => (resumed.pendingApprovals.length ? done() : resumed.on((event) => event.type === 'approval.requested' && done()))),
    'the resumed run to wait',
  );
  assert.equal(resumed.pendingApprovals.map((call) => [call.id, call.actor]), [['p1', 'writer']]);
  resumed.reject('p1', 'Not today.', { by: 'editor' });
  const result = await within(resumed.result, 'the resumed run to end');
  assert.is(result.status, 'done');
  assert.equal(published, [], 'a rejected call never runs');
  assert.throws(() => resumed.approve('p1'), /no tool call p1|not waiting/);
  await store.close();
});

test("an invoked agent's decision deadline applies its default when nobody decides", async () => {
  const published: string[] = [];
  const store = new SqliteStore({ path: join(dir, `runs-${n++}.db`) });
  const run = startRun(composed(published, { timeoutMs: 30, onTimeout: 'approve' }), { input: 'go', model: scriptedModel(script), store });
  const result = await within(run.result, 'the deadline to pass');
  assert.is(result.status, 'done');
  assert.equal(published, ['hello'], 'approved by its default');
  const decided = (await store.readHistory(run.runId)).find((line) => line.eventType === 'APPROVAL_EXPIRED');
  assert.is(decided?.meta?.actor, 'writer', 'the expiry is recorded as the invoked agent’s');
  await store.close();
});

const pair = (published: string[]) => pairAgent((text) => published.push(text));

test('when two invoked agents wait on calls with the same id, a decision must name the agent, and goes only to it', async () => {
  const published: string[] = [];
  const model = scriptedModel([
    { toolCalls: [{ id: 'p1', name: 'publish', arguments: { text: 'one' } }] },
    { toolCalls: [{ id: 'p1', name: 'publish', arguments: { text: 'two' } }] },
    { content: 'Published.' },
    { content: 'Left unpublished.' },
  ]);
  const store = new SqliteStore({ path: join(dir, `runs-${n++}.db`) });
  const run = startRun(pair(published), { input: 'go', model, store });
  await within(
    new Promise<void>((done) => run.on(() => run.pendingApprovals.length === 2 && done())),
    'both agents to wait',
  );
  const waiting = run.pendingApprovals;
  assert.equal(waiting.map((call) => [call.id, call.actor]).sort(), [['p1', 'editor'], ['p1', 'writer']]);
  assert.throws(() => run.approve('p1'), /p1 is waiting in more than one agent \(agent "(writer|editor)", agent "(writer|editor)"\), so nothing was decided\. Say which: actor: /);
  assert.throws(() => run.reject('p1', 'No.'), /more than one agent/);
  assert.throws(() => run.approve('p1', { actor: '' }), /p1 is not waiting in the run's own agent; it waits in agent/);
  assert.throws(() => run.approve('p1', { actor: 'critic' }), /not waiting in agent "critic"/);
  const editors = waiting.find((call) => call.actor === 'editor')!;
  const writers = waiting.find((call) => call.actor === 'writer')!;
  assert.throws(() => run.approve('p1', { actor: 'editor', argsHash: writers.argsHash! }), /names arguments hash/, 'the hash is checked against the named agent\u2019s call');
  run.approve('p1', { actor: 'editor', argsHash: editors.argsHash! });
  await within(
    new Promise<void>((done) => run.on(() => run.pendingApprovals.length === 1 && done())),
    'the editor to go on',
  );
  assert.equal(run.pendingApprovals.map((call) => [call.id, call.actor]), [['p1', 'writer']], 'the writer still waits');
  run.reject('p1', 'Not this one.', { actor: 'writer' });
  const result = await within(run.result, 'the run to end');
  assert.is(result.status, 'done', JSON.stringify(result.error));
  assert.is(published.length, 1, 'only the approved call ran');
  const decisions = (await store.readHistory(run.runId)).filter((line) => line.eventType === 'APPROVE' || line.eventType === 'REJECT');
  assert.equal(decisions.map((line) => [line.eventType, line.meta?.actor]), [['APPROVE', 'editor'], ['REJECT', 'writer']]);
  model.assertDone();
  await store.close();
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
