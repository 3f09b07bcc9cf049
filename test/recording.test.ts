import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fromCallback, setup } from 'xstate';
import { z } from 'zod';
import { createOpenAIModel, defineAgent, defineTool, startRun, type ModelPort } from '../src/index.ts';
import { normalize } from '../src/log/format/patch.ts';
import { stateAt } from '../src/log/reads/reads.ts';
import { MemoryStore } from '../src/log/stores/memoryStore.ts';
import { SqliteStore } from '../src/log/stores/sqlite/sqliteStore.ts';
import { ConflictError } from '../src/errors.ts';
import { forkRun } from '../src/runtime/forkRun.ts';
import { replayRun } from '../src/runtime/replayRun.ts';
import { resumeRun } from '../src/runtime/resumeRun.ts';
import { scriptedModel, startScriptedServer, type Script } from '../src/testing/index.ts';

const dir = mkdtempSync(join(tmpdir(), 'statecraft-recording-'));
let n = 0;
const freshStore = () => new SqliteStore({ path: join(dir, `runs-${n++}.db`) });

const makeAgent = (ran: string[], options: { approval?: boolean; maxSteps?: number } = {}) =>
  defineAgent({
    name: 'recorder-test',
    limits: { maxSteps: options.maxSteps ?? 20 },
    instructions: 'Test.',
    tools: [
      defineTool({
        name: 'note',
        description: 'Write a note.',
        parameters: z.object({ text: z.string() }),
        needsApproval: options.approval ?? false,
        execute: ({ text }, ctx) => {
          ran.push(`${ctx.callId}:${text}`);
          return `noted ${text}`;
        },
      }),
    ],
  });

const script: Script = [
  { toolCalls: [{ id: 'a', name: 'note', arguments: { text: 'one' } }, { id: 'b', name: 'note', arguments: { text: 'two' } }] },
  { toolCalls: [{ id: 'c', name: 'note', arguments: { text: 'three' } }] },
  { content: 'all noted' },
];

test('every transition is recorded and stateAt equals the live snapshot at every seq', async () => {
  const store = freshStore();
  const ran: string[] = [];
  const run = startRun(makeAgent(ran), { input: 'go', model: scriptedModel(script), store });
  const live: unknown[] = [];
  run.on((event) => event.type === 'state' && live.push(normalize(run.persistedSnapshot())));
  const result = await run.result;
  assert.is(result.status, 'done');
  const records = await store.read(run.runId);
  assert.is(records.length, live.length, 'one record per transition');
  assert.ok(records[0]!.snapshot, 'record 0 is a keyframe');
  for (let seq = 0; seq < records.length; seq++) {
    assert.equal(await stateAt(store, run.runId, seq), live[seq], `state at seq ${seq}`);
  }
  const modelTurn = records.find((record) => record.event.type === 'xstate.done.actor.callModel')!;
  const messageOps = modelTurn.patch.filter((op) => op.path.startsWith('/context/messages'));
  assert.equal(messageOps.map((op) => op.op), ['add'], 'appending the model message is one add op');
  const { durationMs: modelMs, ...answer } = modelTurn.meta ?? {};
  assert.equal(answer, { model: 'scripted', usage: (modelTurn.event.output as { usage: unknown }).usage }, "a model answer's record names its model and tokens");
  assert.type(modelMs, 'number');
  const toolDone = records.filter((record) => record.event.type === 'TOOL_FINISHED');
  assert.is(toolDone.length, 3);
  for (const record of toolDone) assert.type(record.meta?.durationMs, 'number', "a tool's result records how long it took");
  const summary = await store.summary(run.runId);
  assert.is(summary.status, 'done');
  assert.is(summary.steps, 3);
  assert.is(summary.lastSeq, records.length - 1);
  await store.close();
});

test('a long run is indexed as it is recorded: a store that has read nothing rebuilds every seq equal to the live snapshot', async () => {
  const path = join(dir, `runs-${n++}.db`);
  const store = new SqliteStore({ path });
  const ran: string[] = [];
  const agent = makeAgent(ran, { maxSteps: 50 });
  const long: Script = [...Array.from({ length: 40 }, (_, i) => ({ toolCalls: [{ id: `n${i}`, name: 'note', arguments: { text: `${i}` } }] })), { content: 'done' }];
  const run = startRun(agent, { input: 'go', model: scriptedModel(long), store });
  const live: unknown[] = [];
  run.on((event) => event.type === 'state' && live.push(normalize(run.persistedSnapshot())));
  assert.is((await run.result).status, 'done');
  await store.close();
  const reader = new SqliteStore({ path });
  const lastSeq = live.length - 1;
  const indexed = await reader.statePointSeqAtOrBefore(run.runId, lastSeq);
  assert.ok(indexed >= 128, `indexed up to ${indexed} of ${lastSeq}`);
  // Backwards, so each read starts from the index rather than from a state read just before.
  for (let seq = lastSeq; seq >= 0; seq--) assert.equal(await stateAt(reader, run.runId, seq), live[seq], `state at seq ${seq}`);
  await reader.close();
});

test('on a slow store, no tool starts before the record of its start is stored, whether or not it is safe to run again', async () => {
  // A store whose writes wait for the next release, as on a slow disk or database.
  class HeldStore extends MemoryStore {
    private held: Array<() => void> = [];
    override async append(...args: Parameters<MemoryStore['append']>): Promise<void> {
      await new Promise<void>((go) => this.held.push(go));
      return super.append(...args);
    }
    release() {
      for (const go of this.held.splice(0)) go();
    }
  }
  const seen: string[] = [];
  const tool = (name: string, options: { idempotent?: boolean }) =>
    defineTool({
      name,
      description: `The ${name} tool.`,
      parameters: z.object({}),
      ...options,
      execute: async (_args, ctx) => {
        const stored = (await store.read(ctx.runId)).some((r) => r.event.type === 'TOOL_STARTED' && r.event.callId === ctx.callId);
        seen.push(`${name}:${stored ? 'start stored' : 'start not stored'}`);
        return 'ok';
      },
    });
  const store = new HeldStore();
  const model = scriptedModel([
    { toolCalls: [{ id: 'u', name: 'once', arguments: {} }] },
    { toolCalls: [{ id: 'i', name: 'again', arguments: {} }] },
    { content: 'done' },
  ]);
  const agent = defineAgent({ name: 'held', model, tools: [tool('once', {}), tool('again', { idempotent: true })] });
  const held = setInterval(() => store.release(), 20);
  const result = await startRun(agent, { input: 'go', store }).result.finally(() => clearInterval(held));
  assert.is(result.status, 'done', JSON.stringify(result.error));
  assert.equal(seen, ['once:start stored', 'again:start stored']);
});

/**
 * Runs two tools, each called by the model after a pause (so the store has written everything before
 * the call arrives and nothing is pending when the tool is dispatched), and says, for each, whether the
 * record of its start was stored when it began.
 */
async function startsStoredWhenToolsBegin(model: (script: Script) => ModelPort | Promise<ModelPort>): Promise<string[]> {
  const seen: string[] = [];
  // Which starts the store holds, noted as each write completes, so the tool can tell the moment it begins.
  const started = new Set<string>();
  class NotingStore extends MemoryStore {
    override async append(...args: Parameters<MemoryStore['append']>): Promise<void> {
      await super.append(...args);
      for (const record of args[1]) if (record.event.type === 'TOOL_STARTED') started.add(String(record.event.callId));
    }
  }
  const store = new NotingStore();
  const note = (name: string, options: { idempotent?: boolean }) =>
    defineTool({
      name,
      description: `The ${name} tool.`,
      parameters: z.object({}),
      ...options,
      execute: (_args, ctx) => {
        seen.push(`${ctx.callId}:${started.has(ctx.callId) ? 'start stored' : 'start not stored'}`);
        return 'ok';
      },
    });
  const script: Script = [
    { toolCalls: [{ id: 'a', name: 'once', arguments: {} }], delayMs: 20 },
    { toolCalls: [{ id: 'b', name: 'again', arguments: {} }], delayMs: 20 },
    { content: 'done', delayMs: 20 },
  ];
  const agent = defineAgent({ name: 'late', model: await model(script), tools: [note('once', {}), note('again', { idempotent: true })] });
  const result = await startRun(agent, { input: 'go', store }).result;
  assert.is(result.status, 'done', JSON.stringify(result.error));
  return seen;
}

test('a tool called after every earlier record is written still waits for the record of its start, safe to run again or not', async () => {
  assert.equal(await startsStoredWhenToolsBegin((script) => scriptedModel(script)), ['a:start stored', 'b:start stored']);
});

test('the same through the openai client and the scripted HTTP server', async () => {
  let server: Awaited<ReturnType<typeof startScriptedServer>> | undefined;
  try {
    const seen = await startsStoredWhenToolsBegin(async (script) => {
      server = await startScriptedServer(script);
      return createOpenAIModel({ baseURL: server.url, apiKey: 'test', model: 'scripted' });
    });
    assert.equal(seen, ['a:start stored', 'b:start stored']);
  } finally {
    await server?.close();
  }
});

test('a run waiting for approval resumes in a new run handle and ends as a run that never stopped', async () => {
  const store = freshStore();
  const ran: string[] = [];
  const agent = makeAgent(ran, { approval: true });
  const first = startRun(agent, { input: 'go', model: scriptedModel(script.slice(0, 1)), store });
  await new Promise<void>((resolve) => first.on((event) => event.type === 'approval.requested' && resolve()));
  await first.durable();
  assert.equal((await store.summary(first.runId)).status, 'waiting');

  const resumed = await resumeRun(agent, first.runId, { store, model: scriptedModel(script.slice(1)) });
  resumed.on((event) => {
    if (event.type === 'approval.requested') for (const call of event.calls) setImmediate(() => resumed.approve(call.id));
  });
  const result = await resumed.result;
  assert.is(result.status, 'done');
  assert.equal(ran, ['a:one', 'b:two', 'c:three']);
  const records = await store.read(first.runId);
  assert.ok(records.some((record) => record.event.type === 'statecraft.resumed'), 'the resume is recorded');
  assert.is(records.filter((record) => record.event.type === 'TOOL_STARTED').length, 3, 'no tool started twice');
  await store.close();
});

test('two handles continuing one run: the one that writes second fails with an error saying another process continued it, and stores nothing', async () => {
  const store = freshStore();
  const ran: string[] = [];
  const agent = makeAgent(ran, { approval: true });
  const first = startRun(agent, { input: 'go', model: scriptedModel(script.slice(0, 1)), store });
  await new Promise<void>((resolve) => first.on((event) => event.type === 'approval.requested' && resolve()));
  await first.detach();
  // Both read the run as it was before either wrote: the second to write finds its seq taken.
  const winner = await resumeRun(agent, first.runId, { store, model: scriptedModel(script.slice(1)) });
  const loser = await resumeRun(agent, first.runId, { store, model: scriptedModel(script.slice(1)) });
  const failure = loser.result.then(
    () => undefined,
    (error: Error) => error,
  );
  // What waits when asked: a decision is never sent twice for one call.
  const approveWaiting = () => {
    for (const call of winner.pendingApprovals) winner.approve(call.id);
  };
  winner.on((event) => event.type === 'approval.requested' && setImmediate(approveWaiting));
  approveWaiting();
  assert.is((await winner.result).status, 'done');
  const error = await failure;
  assert.instance(error, ConflictError);
  assert.match(error!.message, `Run ${first.runId} was continued by another process (or another handle) at the same time, which recorded first`);
  assert.match(error!.message, `statecraft history ${first.runId}`);
  const records = await store.read(first.runId);
  assert.is(records.filter((record) => record.event.type === 'statecraft.resumed').length, 1, 'only the winner\u2019s resume is stored');
  assert.equal(ran, ['a:one', 'b:two', 'c:three'], 'each tool ran once');
  await store.close();
});

test('resuming a run whose context holds an actor reference leaves the states the store keeps as they were', async () => {
  const store = freshStore();
  const waitingCall = { id: 'x', name: 'note', status: 'awaiting' };
  const machine = setup({ actors: { idle: fromCallback(() => () => {}) } }).createMachine({
    id: 'holder',
    context: ({ spawn }) => ({ ref: spawn('idle', { id: 'idle' }), turn: { step: 0, calls: [waitingCall] } }),
    initial: 'waiting',
    states: { waiting: { tags: ['waiting'], on: { CANCEL: 'done' } }, done: { type: 'final' } },
  });
  const agent = defineAgent({ name: 'holder', machine });
  const first = startRun(agent, { input: 'go', model: scriptedModel([]), store });
  await new Promise<void>((resolve) => first.on((event) => event.type === 'approval.requested' && resolve()));
  await first.detach();
  const { lastSeq } = await store.summary(first.runId);
  const before = structuredClone(await stateAt(store, first.runId, lastSeq)) as { context: { ref: unknown } };
  assert.equal(before.context.ref, { xstate$$type: 1, id: 'idle' });

  const resumed = await resumeRun(agent, first.runId, { store, model: scriptedModel([]) });
  await new Promise<void>((resolve) => resumed.on((event) => event.type === 'approval.requested' && resolve()));
  assert.equal(await stateAt(store, first.runId, lastSeq), before, 'the restore did not write the live actor into the kept state');
  await resumed.detach();
  await store.close();
});

test('a finished run cannot be resumed, and the error says what to do', async () => {
  const store = freshStore();
  const run = startRun(makeAgent([]), { input: 'go', model: scriptedModel([{ content: 'hi' }]), store });
  await run.result;
  try {
    await resumeRun(makeAgent([]), run.runId, { store, model: scriptedModel([]) });
    assert.unreachable('resume should refuse');
  } catch (error) {
    assert.match((error as Error).message, /already ended \(done/);
    assert.match((error as Error).message, /statecraft fork/);
  }
  await store.close();
});

test('a fork with an edited tool result continues from there and leaves the parent untouched', async () => {
  const store = freshStore();
  const ran: string[] = [];
  const parent = startRun(makeAgent(ran), { input: 'go', model: scriptedModel(script), store });
  await parent.result;
  const before = await store.read(parent.runId);
  const afterFirstTools = before.find((record) => record.event.type === 'xstate.done.actor.executeTools')!;
  const state = (await stateAt(store, parent.runId, afterFirstTools.seq)) as { context: { messages: { role: string }[] } };
  const toolIndex = state.context.messages.findIndex((m) => m.role === 'tool');
  const forkId = await forkRun(store, parent.runId, afterFirstTools.seq, {
    edit: [{ op: 'replace', path: `/messages/${toolIndex}/content`, value: 'the note service is down' }],
  });
  const model = scriptedModel([
    (request) => {
      assert.ok(request.messages.some((m) => m.content === 'the note service is down'), 'the model sees the edit');
      return { content: 'understood' };
    },
  ]);
  const fork = await resumeRun(makeAgent(ran), forkId, { store, model });
  const result = await fork.result;
  assert.is(result.output, 'understood');
  assert.equal(await store.read(parent.runId), before, 'parent records unchanged');
  const summary = await store.summary(forkId);
  assert.equal(summary.parent, { runId: parent.runId, seq: afterFirstTools.seq });
  assert.is((await store.header(forkId)).parent?.runId, parent.runId);
  const runs = (await store.listRuns()).length;
  const refused = await forkRun(store, parent.runId, afterFirstTools.seq, { edit: [{ op: 'replace', path: '/nope/x', value: 1 }] }).then(
    () => undefined,
    (error: Error) => error.message,
  );
  assert.match(refused ?? '', 'does not apply to its context: A JSON patch does not apply at op 0 (replace /nope/x)');
  assert.not.match(refused ?? '', '..', 'one full stop between the two sentences');
  assert.is((await store.listRuns()).length, runs, 'an edit that does not apply makes no fork');
  await store.close();
});

test('replay reproduces a run without calling the model or tools, and reports the first divergence', async () => {
  const store = freshStore();
  const ran: string[] = [];
  const run = startRun(makeAgent(ran), { input: 'go', model: scriptedModel(script), store });
  await run.result;
  const toolRuns = ran.length;
  const report = await replayRun(makeAgent(ran), run.runId, { store });
  assert.ok(report.ok, JSON.stringify(report.divergence));
  assert.equal(report.warnings, [], 'the same agent: nothing to warn about');
  assert.is(ran.length, toolRuns, 'replay ran no tool');
  assert.ok(report.replayed > 5);

  const changed = defineAgent({
    name: 'recorder-test',
    tools: [
      defineTool({
        name: 'note',
        description: 'Write a note.',
        parameters: z.object({ text: z.string().max(3) }),
        execute: () => 'x',
      }),
    ],
  });
  const drift = await replayRun(changed, run.runId, { store });
  assert.not.ok(drift.ok);
  assert.is(drift.divergence!.eventType, 'xstate.done.actor.callModel');
  assert.match(JSON.stringify(drift.divergence!.actual), /Too big/, 'the new validation shows in the patch');
  assert.ok(drift.warnings.some((w) => /instructions changed/.test(w)), drift.warnings.join('\n'));
  assert.ok(drift.warnings.some((w) => /limits.maxSteps is 20 now and was 20/.test(w)) === false, 'an unchanged limit is not reported');
  const tighter = await replayRun(makeAgent(ran, { maxSteps: 3 }), run.runId, { store });
  assert.ok(tighter.warnings.some((w) => /limits.maxSteps is 3 now and was 20/.test(w)), tighter.warnings.join('\n'));
  await store.close();
});


test('a machine that invokes agents as children records their steps too: every state and a clean replay', async () => {
  const compose = await import('../examples/compose/agent.ts');
  const store = freshStore();
  const run = startRun(compose.agent, { input: compose.input, model: scriptedModel(compose.script), store });
  const live: unknown[] = [];
  run.on((event) => event.type === 'state' && live.push(normalize(run.persistedSnapshot())));
  assert.is((await run.result).status, 'done');
  const records = await store.read(run.runId);
  const childRecords = records.filter((record) => typeof record.meta?.actor === 'string');
  assert.ok(childRecords.length > 5, 'the child agents\u2019 transitions are recorded');
  assert.ok(childRecords.some((record) => record.meta?.actor === 'researcher' && record.event.type === 'TOOL_FINISHED'));
  const last = records.at(-1)!;
  assert.equal(await stateAt(store, run.runId, last.seq), live.at(-1));
  const report = await replayRun(compose.agent, run.runId, { store });
  assert.ok(report.ok, JSON.stringify(report.divergence));
  assert.is(report.replayed, records.length - 1);
  await store.close();
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test('keyframes.every puts a full snapshot in at least every Kth record, and bad settings are refused', async () => {
  const store = freshStore();
  const run = startRun(makeAgent([]), { input: 'go', model: scriptedModel(script), store, keyframes: { every: 4 } });
  assert.is((await run.result).status, 'done');
  const records = await store.read(run.runId);
  const keyframes = records.filter((record) => record.snapshot).map((record) => record.seq);
  assert.ok(records.length > 8);
  for (let seq = 0; seq < records.length; seq += 4) assert.ok(keyframes.includes(seq), `record ${seq} holds the snapshot (keyframes: ${keyframes})`);
  for (const record of records.filter((r) => r.snapshot)) assert.equal(await stateAt(store, run.runId, record.seq), record.snapshot, `record ${record.seq}'s snapshot is its state`);
  assert.throws(() => startRun(makeAgent([]), { input: 'go', model: scriptedModel(script), store, keyframes: { every: 0 } }), /keyframes.every must be a positive whole number/);
  assert.throws(() => startRun(makeAgent([]), { input: 'go', model: scriptedModel(script), store, keyframes: { sizeRatio: -1 } }), /keyframes.sizeRatio must be a positive number/);
  await store.close();
});

test.run();
