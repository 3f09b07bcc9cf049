// Memory across runs, end to end: the real openai client against the scripted server, SQLite stores.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { z } from 'zod';
import { createOpenAIModel, defineAgent, openAgentMemory, openStore, replayRun, runAgent, type AgentMemoryStore, type RunStore } from '../src/index.ts';
import { startScriptedServer } from '../src/testing/index.ts';

const dir = mkdtempSync(join(tmpdir(), 'statecraft-memory-runs-'));
let n = 0;
const fresh = () => {
  const path = join(dir, `runs-${n++}.db`);
  return { path, store: openStore(`sqlite:${path}`), memory: openAgentMemory(`sqlite:${path}`) };
};
const systemTexts = (messages: { role: string; content: string | null }[]) => messages.filter((m) => m.role === 'system').map((m) => m.content ?? '');

async function closeAll(store: RunStore, memory: AgentMemoryStore) {
  await memory.close();
  await store.close?.();
}

test('a fact remembered in one run is recalled into the next run of the same user, and not of another', async () => {
  const { store, memory } = fresh();
  const server = await startScriptedServer([
    { toolCalls: [{ id: 'r1', name: 'remember', arguments: { text: 'Ann is allergic to peanuts', tags: ['health'] } }] },
    { content: 'Noted.' },
    { content: 'No peanuts, then.' },
    { content: 'Hello Bob.' },
  ]);
  try {
    const model = createOpenAIModel({ baseURL: server.url, apiKey: 'test', model: 'gpt-4o-mini' });
    const agent = defineAgent({ name: 'chef', instructions: 'Cook.', model, memory: { store: memory } });
    const first = await runAgent(agent, 'Remember that I am allergic to peanuts.', { store, identity: { user: 'ann' } });
    assert.is(first.status, 'done');
    assert.equal(server.requests[0]!.tools.map((t) => t.name), ['remember', 'forget']);
    assert.match(server.requests[1]!.messages.find((m) => m.role === 'tool')!.content, /^Saved note /);

    const second = await runAgent(agent, 'Suggest a snack with peanuts?', { store, identity: { user: 'ann' } });
    assert.is(second.status, 'done');
    const recalled = systemTexts(server.requests[2]!.messages);
    assert.is(recalled[0], 'Cook.');
    assert.match(recalled[1]!, /Notes recalled from long-term memory/);
    assert.match(recalled[1]!, /Ann is allergic to peanuts \(health\)/);

    await runAgent(agent, 'Any peanuts left?', { store, identity: { user: 'bob' } });
    assert.equal(systemTexts(server.requests[3]!.messages), ['Cook.'], "another user's notes are not recalled");

    // What was recalled is in the log, with the model's answer: replay reads it there and queries no store.
    const records = await store.read(second.runId);
    const turn = records.find((r) => r.event.type === 'xstate.done.actor.callModel')!;
    const logged = (turn.event as unknown as { output: { memory: { recalled: { text: string }[] } } }).output.memory;
    assert.equal(logged.recalled.map((note) => note.text), ['Ann is allergic to peanuts']);
    await memory.forgetUser('ann');
    const report = await replayRun(agent, second.runId, { store });
    assert.ok(report.ok, JSON.stringify(report.divergence));
    assert.match(JSON.stringify((await store.read(first.runId)).map((r) => r.patch)), /Ann is allergic to peanuts/, 'the run log keeps the remember call');
    server.assertDone();
  } finally {
    await server.close();
    await closeAll(store, memory);
  }
});

test('working memory is shown in every request, changed by its tool, validated, and kept across runs', async () => {
  const { store, memory } = fresh();
  const server = await startScriptedServer([
    { toolCalls: [{ id: 'w1', name: 'update_working_memory', arguments: { changes: { city: 'Oslo', guests: 'many' }, replace: null } }] },
    { toolCalls: [{ id: 'w2', name: 'update_working_memory', arguments: { changes: { city: 'Oslo', guests: 4 }, replace: null } }] },
    { content: 'Planned.' },
    { content: 'Still Oslo, 4 guests.' },
  ]);
  try {
    const model = createOpenAIModel({ baseURL: server.url, apiKey: 'test', model: 'gpt-4o-mini' });
    const schema = z.object({ city: z.string().describe('where the party is'), guests: z.number().int() });
    const agent = defineAgent({ name: 'planner', model, workingMemory: { schema, scope: 'user', store: memory } });
    const first = await runAgent(agent, 'Party in Oslo for 4.', { store, identity: { tenant: 'acme', user: 'ann' } });
    assert.is(first.status, 'done');
    assert.match(systemTexts(server.requests[0]!.messages)[0]!, /Working memory \(version 0;.*\n\{\}$/);
    const refused = server.requests[1]!.messages.find((m) => m.role === 'tool')!.content;
    assert.match(refused, /guests/, 'an invalid change is a result the model reads');
    assert.match(systemTexts(server.requests[2]!.messages)[0]!, /version 1;.*\n\{"city":"Oslo","guests":4\}$/);

    await runAgent(agent, 'Where is the party?', { store, identity: { tenant: 'acme', user: 'ann' } });
    assert.match(systemTexts(server.requests[3]!.messages)[0]!, /\{"city":"Oslo","guests":4\}/);
    const saved = await memory.working({ tenant: 'acme', user: 'ann', agent: 'planner' });
    assert.equal([saved?.version, saved?.runId], [1, first.runId]);
    const header = await store.header(first.runId);
    assert.equal(header.labels, { 'statecraft.tenant': 'acme', 'statecraft.user': 'ann' });
    server.assertDone();
  } finally {
    await server.close();
    await closeAll(store, memory);
  }
});

test('a run of an agent with per-user memory is refused before it starts when it has no user', async () => {
  const agent = defineAgent({ name: 'forgetful', model: createOpenAIModel({ baseURL: 'http://127.0.0.1:9/v1', apiKey: 'x' }), memory: { store: openAgentMemory('memory:') } });
  assert.throws(() => runAgent(agent, 'hi'), /keeps its memory per user, but run .* has no user: start it with identity/);
});

test('semantic recall: notes get vectors from the embeddings endpoint and the nearest are recalled', async () => {
  const { path, store, memory } = fresh();
  const server = await startScriptedServer([
    { toolCalls: [{ id: 'r1', name: 'remember', arguments: { text: 'favourite colour teal', tags: null } }, { id: 'r2', name: 'remember', arguments: { text: 'dog named Rex', tags: null } }] },
    { content: 'Saved.' },
    { content: 'Teal.' },
  ]);
  try {
    const model = createOpenAIModel({ baseURL: server.url, apiKey: 'test', model: 'gpt-4o-mini', embeddingModel: 'embed-small' });
    const agent = defineAgent({ name: 'friend', model, toolConcurrency: 1, memory: { store: memory, embeddings: model, recall: { limit: 1, minScore: 0.3 } } });
    await runAgent(agent, 'Remember these.', { store, identity: { user: 'ann' } });
    await runAgent(agent, 'What is my favourite colour?', { store, identity: { user: 'ann' } });
    const recalled = systemTexts(server.requests[2]!.messages).join('\n');
    assert.match(recalled, /favourite colour teal/);
    assert.not.match(recalled, /Rex/);
    assert.equal(server.embeddingRequests.map((r) => [r.model, r.input]), [
      ['embed-small', ['Remember these.']],
      ['embed-small', ['favourite colour teal']],
      ['embed-small', ['dog named Rex']],
      ['embed-small', ['What is my favourite colour?']],
    ]);
    const db = new Database(path, { readonly: true });
    const blobs = db.prepare<[], { size: number }>('SELECT length(embedding) AS size FROM memory_notes').all();
    db.close();
    assert.equal(blobs.map((b) => b.size), [256, 256], '64 float32 each');
    server.assertDone();
  } finally {
    await server.close();
    await closeAll(store, memory);
  }
});

test.after(() => rmSync(dir, { recursive: true, force: true }));

test.run();
