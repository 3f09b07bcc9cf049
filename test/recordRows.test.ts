import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { z } from 'zod';
import { defineAgent, defineFitness, defineTool, forkRun, MemoryStore, resumeRun, startRun } from '../src/index.ts';
import { deskMachine } from './fixtures/deskMachine.ts';
import type { Run } from '../src/index.ts';
import { matchesRow, RecordRows, stateText, type RecordRow } from '../src/inspector/recordRows.ts';
import type { HistoryEntry, RunStore } from '../src/log/stores/runStore.ts';
import { scriptedModel, type Script } from '../src/testing/index.ts';

const time = '2026-12-07T10:00:00.000Z';
const entries: HistoryEntry[] = [
  { type: 'xstate.init', state: 'infer' },
  { type: 'xstate.done.actor.callModel', output: { message: { role: 'assistant', content: 'Both.', toolCalls: [{ id: 'c1', name: 'search', arguments: '{}' }, { id: 'c2', name: 'publish', arguments: '{}' }] }, usage: { inputTokens: 10, outputTokens: 2 } }, state: 'execute' },
  { type: 'TOOL_STARTED', callId: 'c1', state: 'execute' },
  { type: 'TOOL_FINISHED', callId: 'c1', outcome: { content: 'found', isError: false, durationMs: 12.4 }, state: 'execute' },
  { type: 'APPROVE', callId: 'c2', by: 'ana', state: 'execute' },
  { type: 'REJECT', callId: 'c2', by: 'bo', reason: 'not today', state: 'execute' },
  { type: 'TOOL_FINISHED', callId: 'c2', outcome: { content: 'Tool "publish" failed: offline', isError: true, durationMs: 3 }, state: 'execute' },
  { type: 'xstate.done.actor.evaluateFitness', output: [{ name: 'cost', ok: true }, { name: 'tone', ok: false }], state: 'update' },
  { type: 'xstate.done.actor.compactHistory', output: {}, state: { memory: 'compact' } },
  { type: 'xstate.error.actor.callModel', error: { name: 'Error', message: 'HTTP 500' }, state: 'failed' },
].map(({ state, ...event }, seq) => ({ seq, time, eventType: event.type, event: event as HistoryEntry['event'], state: state as HistoryEntry['state'] }));

/** A store holding one run of `entries`: enough for RecordRows, which reads summaries and history only. */
const store = {
  summary: async () => ({ createdAt: time, lastSeq: entries.length - 1 }),
  readHistory: async (_runId: string, { from = 0, to = entries.length - 1 } = {}) => entries.slice(from, to + 1),
} as unknown as RunStore;

test('records are said in words: model turns, tool calls with duration and outcome, decisions, fitness, compaction, errors', async () => {
  const { rows } = await new RecordRows(store).range('r', 0, 99);
  assert.equal(
    rows.map((row) => [row.kind, row.label]),
    [
      ['start', 'Run started'],
      ['model', 'Model asks for search, publish and says: Both. · 10 in / 2 out'],
      ['tool', 'search started (c1)'],
      ['tool', 'search finished in 12 ms'],
      ['approval', 'publish approved by ana (c2)'],
      ['approval', 'publish rejected by bo (c2): not today'],
      ['tool', 'publish failed in 3 ms: Tool "publish" failed: offline'],
      ['fitness', 'Fitness check: tone breached'],
      ['compaction', 'Context compacted'],
      ['error', 'Model call failed: HTTP 500'],
    ],
  );
  assert.equal(rows.map((row) => row.status ?? ''), ['', '', 'started', 'ok', 'approved', 'rejected', 'error', '', '', '']);
  assert.is(rows[3]!.durationMs, 12);
  assert.is(rows[8]!.state, 'memory.compact');
});

test("a range's tool events are named from a turn before it, and every row is built once for filters", async () => {
  const rows = new RecordRows(store);
  const { rows: late } = await rows.range('r', 3, 3);
  assert.is(late[0]!.label, 'search finished in 12 ms');
  const all = await rows.all('r');
  assert.equal([...all.tools].sort(), ['publish', 'search']);
  const failed = all.rows.filter((row, seq) => matchesRow(row, all.texts[seq]!, { kind: ['tool'], text: 'OFFLINE' }));
  assert.equal(failed.map((row) => row.seq), [6]);
  assert.equal(all.rows.filter((row, seq) => matchesRow(row, all.texts[seq]!, { state: 'compact' })).map((row) => row.seq), [8]);
  assert.is(stateText({ a: { b: 'c' }, d: 'e' }), 'a.b.c, d.e');
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const waiting = (run: Run) => new Promise<void>((resolve) => (run.pendingApprovals.length ? resolve() : run.on((event) => event.type === 'approval.requested' && resolve())));

test('every kind of record real runs produce is said in words, with no XState name in any row', async () => {
  const store = new MemoryStore();
  const slow = defineTool({ name: 'slow', description: 'Wait.', parameters: z.object({ ms: z.number() }), execute: async ({ ms }) => (await sleep(ms), 'waited') });
  const broken = defineTool({ name: 'broken', description: 'Fail.', parameters: z.object({}), execute: () => { throw new Error('disk full'); } });
  const publish = defineTool({ name: 'publish', description: 'Publish.', parameters: z.object({ text: z.string() }), needsApproval: true, execute: ({ text }) => `published ${text}` });
  const charging: (() => void)[] = [];
  const release = () => charging.splice(0).forEach((resolve) => resolve());
  const hanging = defineTool({ name: 'charge', description: 'Charge a card.', parameters: z.object({}), onResume: 'ask', execute: () => new Promise<string>((resolve) => charging.push(() => resolve('charged'))) });
  const fitness = [defineFitness({ name: 'tone', after: ['slow'], onBreach: 'record', measure: () => false })];
  const calls = (...names: string[]) => names.map((name, i) => ({ id: `${name}${i}`, name, arguments: name === 'slow' ? { ms: 5 } : name === 'publish' ? { text: 'hi' } : {} }));
  const runs: string[] = [];
  const begin = (name: string, script: Script, extra: Partial<Parameters<typeof defineAgent>[0]> = {}) => {
    const run = startRun(defineAgent({ name, tools: [slow, broken, publish, hanging], ...extra }), { input: 'go', model: scriptedModel(script), store });
    runs.push(run.runId);
    return run;
  };

  // Parallel calls, one failing, two waiting for people: one approved, one rejected; a fitness check.
  const main = begin('main', [{ toolCalls: calls('slow', 'broken', 'publish', 'publish') }, { content: 'Done.' }], { fitness });
  await waiting(main);
  main.approve('publish2', { by: 'ana' });
  main.reject('publish3', 'not this one', { by: 'bo' });
  assert.is((await main.result).status, 'done');
  // Cancelled while waiting; halted by a deadline, a token budget and the step limit; a model that fails.
  const cancelled = begin('cancelled', [{ toolCalls: calls('publish') }]);
  await waiting(cancelled);
  cancelled.cancel('changed my mind');
  await cancelled.result;
  await begin('late', [{ toolCalls: [{ id: 's', name: 'slow', arguments: { ms: 300 } }] }, { content: 'x' }], { limits: { timeoutMs: 40 } }).result;
  await begin('costly', [{ toolCalls: calls('slow'), usage: { inputTokens: 50, outputTokens: 50 } }], { limits: { maxTokens: 10 } }).result;
  await begin('short', [{ toolCalls: calls('slow') }], { limits: { maxSteps: 1 } }).result;
  await begin('down', () => { throw new Error('HTTP 503 from the provider'); }).result;
  const expiring = begin('expiring', [{ toolCalls: calls('publish') }, { content: 'ok' }], { approval: { timeoutMs: 30, onTimeout: 'reject' } });
  assert.is((await expiring.result).status, 'done');
  // A process stops while a call runs; another takes the run over, with another model, and a person says to run the call again.
  const agent = defineAgent({ name: 'charger', tools: [hanging] });
  const first = startRun(agent, { input: 'go', model: scriptedModel([{ toolCalls: calls('charge') }]), store });
  runs.push(first.runId);
  // Taken over, the first handle can record nothing more: it ends with a conflict.
  const overtaken = first.result.then(() => 'ended', (error: Error) => error.name);
  while (!(await store.readHistory(first.runId).catch(() => [])).some((entry) => entry.eventType === 'TOOL_STARTED')) await sleep(5);
  const other = scriptedModel([{ content: 'charged once' }]);
  const resumed = await resumeRun(agent, first.runId, { store, takeOver: true, model: Object.assign(other, { info: { ...other.info, model: 'other-model' } }) });
  await waiting(resumed);
  resumed.approve('charge0', { by: 'cy' });
  // Both the stopped call and the one run again are let go once the second has started.
  while (charging.length < 2) await sleep(5);
  release();
  assert.is((await resumed.result).status, 'done');
  assert.is(await overtaken, 'ConflictError');
  runs.push(await forkRun(store, runs[0]!, 1));
  // A machine of the user's own that invokes an agent.
  const writer = defineAgent({ name: 'writer', instructions: 'Write.', tools: [slow] });
  const machine = deskMachine(writer);
  const desk = startRun(defineAgent({ name: 'desk', machine, agents: { writer } }), { input: 'go', model: scriptedModel([{ toolCalls: calls('slow') }, { content: 'Written.' }]), store });
  runs.push(desk.runId);
  await desk.result;

  const rows = new RecordRows(store);
  const all: RecordRow[] = [];
  for (const runId of runs) {
    const ranged = (await rows.range(runId, 0, 999)).rows;
    const built = (await rows.all(runId)).rows;
    assert.equal(ranged.map((row) => row.label), built.map((row) => row.label), `a range and the whole run say the same for ${runId}`);
    all.push(...ranged);
  }
  assert.ok(all.length > 40, `${all.length} rows`);
  for (const row of all) {
    assert.not.match(row.label, /xstate\./i, `record ${row.seq} (${row.eventType}) is said in words`);
    assert.ok(row.label.length > 0);
  }
  assert.ok(all.some((row) => row.eventType.startsWith('xstate.')), 'XState names are still kept for the details view');
  const said = all.map((row) => row.label).join('\n');
  for (const words of [
    'Run started',
    /^Model asks for slow, broken, publish · \d+ in \/ \d+ out → waits for approval$/m,
    /^slow finished in \d+ ms$/m,
    /^broken failed in \d+ ms: .*disk full/m,
    'publish approved by ana (publish2)',
    'publish rejected by bo (publish3): not this one',
    'Fitness check: tone breached',
    'Run cancelled: changed my mind',
    /^Deadline reached → run halted: /m,
    /Model asks for slow · 50 in \/ 50 out → run halted: Token budget/,
    /All tool calls finished → run halted: Step limit reached/,
    /^Model call failed: HTTP 503 from the provider → run failed$/m,
    'Approval deadline passed',
    /^Run resumed in process \d+ after a stop: charge0 had started and not finished$/m,
    /^Model changed on resume, from scripted to other-model$/m,
    /^charge interrupted \(charge0\)/m,
    'charge approved by cy (charge0)',
    /^Forked from .+ at record 1$/m,
    /^writer: Model asks for slow/m,
    /^writer: slow finished/m,
    /^writer finished$/m,
    /Model answers: Done\. .* → run done$/m,
  ]) assert.match(said, words);
  assert.equal([...new Set(all.map((row) => row.kind))].sort(), ['approval', 'error', 'fitness', 'model', 'run', 'start', 'tool']);
});

test.run();
