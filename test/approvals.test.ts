import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { z } from 'zod';
import { defineAgent, defineTool, MemoryStore, replayRun, startRun, UserError } from '../src/index.ts';
import type { RunEvent, ToolMessage } from '../src/index.ts';
import { scriptedModel, type Script } from '../src/testing/index.ts';

const ran: string[] = [];
const tool = (name: string, extra: Partial<Parameters<typeof defineTool>[0]> = {}) =>
  defineTool({
    name,
    description: `The ${name} tool.`,
    parameters: z.object({ path: z.string() }),
    execute: ({ path }) => {
      ran.push(`${name}:${path}`);
      return `${name} ${path}`;
    },
    ...extra,
  });

const toolResults = (messages: readonly { role: string }[]) => messages.filter((m): m is ToolMessage => m.role === 'tool');
const waitFor = (run: ReturnType<typeof startRun>) =>
  new Promise<string[]>((done) => run.on((event: RunEvent) => event.type === 'approval.requested' && event.calls.length > 0 && done(event.calls.map((c) => c.id))));

test.before.each(() => {
  ran.length = 0;
});

test('policies combine per call: deny wins over ask over allow, and each denial tells the model why', async () => {
  const agent = defineAgent({
    name: 'files',
    tools: [tool('read'), tool('write'), tool('remove', { policy: 'deny' })],
    policies: {
      write: (args) => ((args as { path: string }).path.startsWith('scratch/') ? 'allow' : { decision: 'ask', reason: 'writes outside scratch/' }),
      '*': (args) => ((args as { path: string }).path.includes('..') ? { decision: 'deny', reason: 'no parent folders' } : 'allow'),
    },
  });
  const model = scriptedModel([
    {
      toolCalls: [
        { id: 'r', name: 'read', arguments: { path: 'a.txt' } },
        { id: 'w1', name: 'write', arguments: { path: 'scratch/x' } },
        { id: 'w2', name: 'write', arguments: { path: '../etc/passwd' } },
        { id: 'd', name: 'remove', arguments: { path: 'a.txt' } },
      ],
    },
    (request) => {
      const results = toolResults(request.messages);
      assert.equal(results.map((m) => m.toolCallId), ['r', 'w1', 'w2', 'd']);
      assert.match(results[2]!.content, /denied by the agent files \(all tools\) policy: no parent folders/);
      assert.match(results[3]!.content, /denied by the tool remove policy/);
      return { content: 'ok' };
    },
  ]);
  const result = await startRun(agent, { input: 'go', model }).result;
  assert.is(result.status, 'done');
  assert.equal(ran, ['read:a.txt', 'write:scratch/x']);
});

test('an approval is bound to its call and arguments; decided calls and other arguments are refused', async () => {
  const agent = defineAgent({ name: 'guarded', tools: [tool('write', { needsApproval: true })] });
  const model = scriptedModel([{ toolCalls: [{ id: 'w', name: 'write', arguments: { path: 'a' } }] }, { content: 'ok' }]);
  const run = startRun(agent, { input: 'go', model });
  await waitFor(run);
  const [call] = run.pendingApprovals;
  assert.match(call!.argsHash!, /^[0-9a-f]{16}$/);
  assert.equal(call!.policy, { decision: 'ask', source: 'tool write' });
  assert.throws(() => run.approve('w', { argsHash: '0000000000000000' }), /other arguments/);
  assert.throws(() => run.approve('nope'), /no tool call nope/);
  assert.throws(() => run.approve('w', { arguments: { path: 7 } }), (e: unknown) => e instanceof UserError && /not valid/.test((e as Error).message));
  run.approve('w', { argsHash: call!.argsHash!, by: 'ana' });
  assert.throws(() => run.approve('w'), /not waiting for approval/);
  assert.is((await run.result).status, 'done');
  assert.equal(ran, ['write:a']);
});

test('approving with edited arguments runs them, and the model is told they changed', async () => {
  const agent = defineAgent({ name: 'guarded', tools: [tool('write', { needsApproval: true })] });
  const model = scriptedModel([
    { toolCalls: [{ id: 'w', name: 'write', arguments: { path: '/etc/hosts' } }] },
    (request) => {
      assert.match(toolResults(request.messages)[0]!.content, /approver changed the arguments to \{"path":"scratch\/hosts"\}/);
      return { content: 'ok' };
    },
  ]);
  const run = startRun(agent, { input: 'go', model });
  await waitFor(run);
  run.approve('w', { arguments: { path: 'scratch/hosts' } });
  await run.result;
  assert.equal(ran, ['write:scratch/hosts']);
});

test('"always approve" covers later calls of that tool in the run, and is recorded', async () => {
  const agent = defineAgent({ name: 'guarded', tools: [tool('write', { needsApproval: true })] });
  const model = scriptedModel([
    { toolCalls: [{ id: 'w1', name: 'write', arguments: { path: 'a' } }] },
    { toolCalls: [{ id: 'w2', name: 'write', arguments: { path: 'b' } }] },
    { content: 'ok' },
  ]);
  const store = new MemoryStore();
  const run = startRun(agent, { input: 'go', model, store });
  await waitFor(run);
  run.approve('w1', { always: true, by: 'ana' });
  const result = await run.result;
  assert.is(result.status, 'done');
  assert.equal(ran, ['write:a', 'write:b']);
  const approvals = (await store.read(run.runId)).filter((r) => r.event.type === 'APPROVE');
  assert.equal(approvals.map((r) => [r.event.callId, r.event.by, r.event.always]), [['w1', 'ana', true]]);
});

test('when the approval deadline passes, the default applies and is recorded', async () => {
  const agent = defineAgent({ name: 'guarded', tools: [tool('write', { needsApproval: true })], approval: { timeoutMs: 30 } });
  const model = scriptedModel([
    { toolCalls: [{ id: 'w', name: 'write', arguments: { path: 'a' } }] },
    (request) => {
      assert.match(toolResults(request.messages)[0]!.content, /before the approval deadline/);
      return { content: 'ok' };
    },
  ]);
  const store = new MemoryStore();
  const run = startRun(agent, { input: 'go', model, store });
  const result = await run.result;
  assert.is(result.status, 'done');
  assert.equal(ran, []);
  const events = (await store.read(run.runId)).map((r) => r.event.type);
  assert.ok(events.includes('APPROVAL_EXPIRED'));
  assert.ok((await replayRun(agent, run.runId, { store })).ok, 'the deadline replays: it is data, not a timer');
});

test('the model is offered only granted tools; a call outside the grants is denied and recorded', async () => {
  const agent = defineAgent({
    name: 'reader',
    grants: ['fs:read'],
    tools: [tool('read', { scopes: ['fs:read'] }), tool('write', { scopes: ['fs:write'] })],
  });
  const model = scriptedModel([
    (request) => {
      assert.equal(request.tools.map((t) => t.name), ['read']);
      return { toolCalls: [{ id: 'w', name: 'write', arguments: { path: 'a' } }] };
    },
    (request) => {
      assert.match(toolResults(request.messages)[0]!.content, /not granted "fs:write"/);
      return { content: 'ok' };
    },
  ]);
  const store = new MemoryStore();
  const run = startRun(agent, { input: 'go', model, store });
  await run.result;
  assert.equal(ran, []);
  const dispatched = (await store.read(run.runId)).find((r) => r.event.type === 'xstate.done.actor.callModel')!;
  assert.match(JSON.stringify(dispatched.patch), /"source":"scopes"/);
});

test('an agent whose tools need scopes must say what it is granted', () => {
  assert.throws(
    () => defineAgent({ name: 'x', tools: [tool('write', { scopes: ['fs:write'] })] }),
    (e: unknown) => e instanceof UserError && /grants: \["fs:write"\]/.test((e as Error).message),
  );
});

test('a policy that throws denies the call instead of letting it through', async () => {
  const agent = defineAgent({
    name: 'buggy',
    tools: [tool('write')],
    policies: { write: () => { throw new Error('boom'); } },
  });
  const script: Script = [{ toolCalls: [{ id: 'w', name: 'write', arguments: { path: 'a' } }] }, { content: 'ok' }];
  await startRun(agent, { input: 'go', model: scriptedModel(script) }).result;
  assert.equal(ran, []);
});

test.run();
