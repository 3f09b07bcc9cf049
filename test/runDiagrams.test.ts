// A run keeps the graphs of its machines (its own and its invoked agents'), once per machine version,
// so that the inspector draws any run without its agent's code; exports carry the graphs, and runs
// recorded before they were kept fall back to configured machines, then to the agent's code.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { z } from 'zod';
import { agentMachine, defineAgent, defineTool, startRun } from '../src/index.ts';
import { resumeRun } from '../src/runtime/resumeRun.ts';
import { startInspector } from '../src/inspector/startInspector.ts';
import { matchesRow } from '../src/inspector/recordRows.ts';
import { exportRunText, importRun } from '../src/log/exchange/jsonl.ts';
import { readExport } from '../src/log/exchange/exportFile.ts';
import { MemoryStore } from '../src/log/stores/memoryStore.ts';
import { SqliteStore } from '../src/log/stores/sqlite/sqliteStore.ts';
import { machineHash } from '../src/runtime/machineHash.ts';
import { scriptedModel } from '../src/testing/index.ts';
import * as compose from '../examples/compose/agent.ts';
import * as extend from '../examples/extend/agent.ts';

const dir = mkdtempSync(join(tmpdir(), 'statecraft-run-diagrams-'));
const store = new SqliteStore({ path: join(dir, 'runs.db') });

async function runOf(example: typeof compose | typeof extend): Promise<string> {
  const run = startRun(example.agent, { input: example.input, model: scriptedModel(example.script), store });
  const result = await run.result;
  assert.is(result.status, 'done', `the ${example.agent.name} run ends done`);
  return run.runId;
}

let extended: string;
let composed: string;

test.before(async () => {
  extended = await runOf(extend);
  composed = await runOf(compose);
});

test.after(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** An export as a build before machine graphs wrote it: no graph lines, and no trailer (which would cover them). */
const withoutGraphs = (text: string) => text.split('\n').filter((line) => !line.startsWith('{"machine"') && !line.startsWith('{"trailer"')).join('\n');

const nodeIds = (graph: { nodes: { id: string }[] } | undefined) => (graph?.nodes ?? []).map((node) => node.id);

test('a run of an extended machine keeps its graph, with the states it adds, under the machine version its header names', async () => {
  const header = await store.header(extended);
  assert.equal(header.machine, { id: 'citingAgent', hash: machineHash(extend.citingMachine) });
  assert.is(header.invoked, undefined, 'it invokes no agent');
  const entry = await store.machine(header.machine.id, header.machine.hash);
  assert.ok(nodeIds(entry?.graph).includes('citingAgent.nudge'), 'the added state is in the graph');
  assert.ok(entry!.graph.edges.some((edge) => edge.source === 'citingAgent.checkTermination' && edge.target === 'citingAgent.nudge' && edge.guard !== null));
});

test('a composed run names its invoked agents\u2019 machines in its header, and keeps each machine version once', async () => {
  const header = await store.header(composed);
  const agentRef = { id: agentMachine.id, hash: machineHash(agentMachine) };
  assert.equal(header.invoked, { researcher: agentRef, writer: agentRef });
  assert.ok(nodeIds((await store.machine(header.machine.id, header.machine.hash))?.graph).includes('pipeline.research'));
  assert.ok(nodeIds((await store.machine(agentRef.id, agentRef.hash))?.graph).includes('agent.awaitingApproval'));
});

test('an export carries the run\u2019s machine graphs, covered by its trailer, and an import into another store keeps them', async () => {
  const text = await exportRunText(store, composed);
  const file = readExport(text);
  assert.equal(file.machines.map((entry) => entry.id).sort(), ['agent', 'pipeline'], 'one line per machine version');
  assert.is(file.records.length, (await store.summary(composed)).lastSeq + 1, 'records are still numbered from line 2');
  const other = new MemoryStore();
  await importRun(other, text);
  const header = await other.header(composed);
  assert.ok(await other.machine(header.invoked!.writer!.id, header.invoked!.writer!.hash), 'the imported run can be drawn');
  const edited = text.replace('"pipeline.research"', '"pipeline.rewritten"');
  assert.not.equal(edited, text);
  assert.throws(() => readExport(edited), /do not match its checksum/);
  // A run exported before graphs were kept still imports, with none.
  const old = withoutGraphs(text);
  assert.equal(readExport(old, { partial: true }).machines, []);
});

test('the inspector draws a run from its recorded graph, an invoked agent\u2019s from its own, and answers its messages', async () => {
  const inspector = await startInspector({ store, machines: {} });
  try {
    const own = await fetch(`${inspector.url}api/runs/${extended}/diagram.svg`, { headers: { 'x-statecraft-token': inspector.token } });
    assert.is(own.status, 200);
    assert.is(own.headers.get('x-statecraft-diagram'), 'recorded citingAgent');
    assert.match(await own.text(), 'id="state:citingAgent.nudge"');
    const child = await fetch(`${inspector.url}api/runs/${composed}/diagram.svg?agent=writer`, { headers: { 'x-statecraft-token': inspector.token } });
    assert.is(child.headers.get('x-statecraft-diagram'), 'recorded agent');
    assert.match(await child.text(), 'id="state:agent.infer"');
    const history = await store.readHistory(composed);
    const get = async (path: string): Promise<any> => (await fetch(`${inspector.url}api/runs/${composed}${path}`, { headers: { 'x-statecraft-token': inspector.token } })).json();
    const researching = history.find((entry) => JSON.stringify(entry.state).includes('research'))!.seq;
    const view = await get(`/at/${researching}`);
    assert.equal(view.agents.map((agent: { path: string; agent: string }) => [agent.path, agent.agent]), [['researcher', 'researcher']]);
    assert.ok(view.agents[0].messageCount >= 2, 'the researcher has its own conversation');
    const messages = await get(`/at/${researching}/messages?actor=researcher&from=0&to=9`);
    assert.is(messages.count, view.agents[0].messageCount);
    assert.match(JSON.stringify(messages.messages[0]), 'Collect facts with look_up.');
    const invokers = await (await fetch(`${inspector.url}api/runs/${composed}/invokers`, { headers: { 'x-statecraft-token': inspector.token } })).json();
    assert.equal(invokers, { researcher: ['research'], writer: ['write'] }, 'the states of the pipeline that invoke each agent');
    const absent = await get(`/at/${researching}/messages?actor=writer&from=0&to=9`);
    assert.equal([absent.absent, absent.count], [true, 0], 'the writer is not running yet');
  } finally {
    await inspector.close();
  }
});

test('a run recorded without graphs is drawn from a configured machine, else from its agent\u2019s code, else the page is told why', async () => {
  const bare = new MemoryStore();
  const text = withoutGraphs(await exportRunText(store, extended));
  await importRun(bare, text, { partial: true });
  const path = `api/runs/${extended}/diagram.svg`;
  const ask = async (options: Parameters<typeof startInspector>[0]) => {
    const inspector = await startInspector(options);
    try {
      const response = await fetch(`${inspector.url}${path}`, { headers: { 'x-statecraft-token': inspector.token } });
      return { status: response.status, source: response.headers.get('x-statecraft-diagram'), body: await response.text() };
    } finally {
      await inspector.close();
    }
  };
  const configured = await ask({ store: bare, machines: { citingAgent: extend.citingMachine } });
  assert.equal([configured.status, configured.source], [200, 'configured citingAgent']);
  const loaded = await ask({ store: bare, machines: {}, agentFor: async () => extend.agent });
  assert.equal([loaded.status, loaded.source], [200, 'agent citingAgent']);
  assert.match(loaded.body, 'id="state:citingAgent.nudge"');
  // The stock agent machine under the run's machine id is another version: the agent's own code wins over it.
  const stock = await ask({ store: bare, machines: { citingAgent: agentMachine }, agentFor: async () => extend.agent });
  assert.equal([stock.status, stock.source], [200, 'agent citingAgent']);
  const none = await ask({ store: bare, machines: {} });
  assert.is(none.status, 404);
  assert.match(JSON.parse(none.body).error.message, /No diagram was recorded for run .*machine "citingAgent" version .*--agent <module>/);
});

test('resuming a run recorded without graphs, with the machine it was recorded with, keeps the graphs then', async () => {
  const publish = defineTool({ name: 'publish', description: 'Publish.', parameters: z.object({ text: z.string() }), needsApproval: true, execute: () => 'published' });
  const agent = defineAgent({ name: 'publisher', tools: [publish] });
  const script = [{ toolCalls: [{ id: 'p1', name: 'publish', arguments: { text: 'hi' } }] }, { content: 'Done.' }];
  const run = startRun(agent, { input: 'go', model: scriptedModel(script), store });
  await new Promise<void>((resolve) => run.on((event) => event.type === 'approval.requested' && resolve()));
  await run.detach();
  const bare = new MemoryStore();
  await importRun(bare, withoutGraphs(await exportRunText(store, run.runId)), { partial: true });
  const { machine } = await bare.header(run.runId);
  assert.is(await bare.machine(machine.id, machine.hash), undefined, 'imported without graphs');
  const resumed = await resumeRun(agent, run.runId, { store: bare, model: scriptedModel(script.slice(1)) });
  assert.ok(await bare.machine(machine.id, machine.hash), 'kept when the run was resumed');
  resumed.approve('p1');
  assert.is((await resumed.result).status, 'done');
});

test('a state filter matches the records spent in that state or within it', () => {
  const row = { seq: 1, time: '', eventType: 'x', kind: 'other', label: '', state: 'work.fetch, log' } as Parameters<typeof matchesRow>[0];
  assert.ok(matchesRow(row, '', { state: 'work' }), 'a compound state holds its children');
  assert.ok(matchesRow(row, '', { state: 'work.fetch' }));
  assert.ok(matchesRow(row, '', { state: 'fetch' }), 'a bare leaf name at any depth');
  assert.not.ok(matchesRow(row, '', { state: 'wor' }));
  assert.not.ok(matchesRow(row, '', { state: 'idle' }));
});

test.run();
