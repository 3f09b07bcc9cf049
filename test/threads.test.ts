import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { z } from 'zod';
import { createOpenAIModel, defineAgent, defineTool, forkThread, listThreads, resumeRun, runAgent, SqliteStore, startThreadRun, summarize, threadRuns } from '../src/index.ts';
import type { Message, RunStore } from '../src/index.ts';
import { PostgresStore } from '../src/log/stores/postgres/postgresStore.ts';
import { tokenCounterFor } from '../src/model/tokenCounter.ts';
import { continuedMessages } from '../src/runtime/threads.ts';
import { startScriptedServer, type ScriptRequest } from '../src/testing/index.ts';
import { cliIn } from './fixtures/cli.ts';

/** The message a promise is rejected with ('' when it resolves). */
const refusal = (promise: Promise<unknown>): Promise<string> => promise.then(() => '', (error: Error) => error.message);

const dir = mkdtempSync(join(tmpdir(), 'statecraft-threads-'));
let stores = 0;
const sqlite = () => new SqliteStore({ path: join(dir, `runs-${++stores}.db`) });

/** The scripted model answers from the conversation: the last name the user gave, or that it does not know. */
function nameFrom(messages: readonly Message[]): string | undefined {
  let name: string | undefined;
  for (const message of messages) {
    const said = message.role === 'user' ? /my name is (\w+)/i.exec(message.content) : null;
    if (said) name = said[1];
  }
  return name;
}
const requests: ScriptRequest[] = [];
const chat = (_: number, request: ScriptRequest) => {
  requests.push(request);
  const last = request.messages.at(-1)!;
  if (last.role === 'user' && /what is my name/i.test(last.content)) {
    const name = nameFrom(request.messages);
    return { content: name ? `Your name is ${name}.` : 'I do not know your name.' };
  }
  return { content: `Noted: ${last.role === 'user' ? last.content : '?'}` };
};

const server = await startScriptedServer(chat);
const model = createOpenAIModel({ baseURL: server.url, apiKey: 'test', model: 'gpt-4o-mini' });
const agent = defineAgent({ name: 'chat', instructions: 'Answer from the conversation.', model });

test('the second session of a thread answers from what was said in the first', async () => {
  const store = sqlite();
  try {
    const first = await runAgent(agent, 'My name is Ada.', { store, thread: 'chat-1' });
    assert.is(first.status, 'done');
    requests.length = 0;
    const second = await runAgent(agent, 'What is my name?', { store, thread: 'chat-1' });
    assert.is(second.output, 'Your name is Ada.');
    assert.equal(requests[0]!.messages, [
      { role: 'system', content: 'Answer from the conversation.' },
      { role: 'user', content: 'My name is Ada.' },
      { role: 'assistant', content: 'Noted: My name is Ada.' },
      { role: 'user', content: 'What is my name?' },
    ]);
    const header = await store.header(second.runId);
    assert.is(header.labels?.['statecraft.thread'], 'chat-1');
    assert.is(header.labels?.['statecraft.thread.previous'], first.runId);
    // Another thread knows nothing of it.
    assert.is((await runAgent(agent, 'What is my name?', { store, thread: 'chat-2' })).output, 'I do not know your name.');
    assert.equal((await threadRuns(store, { thread: 'chat-1' })).map((run) => run.runId), [first.runId, second.runId]);
  } finally {
    await store.close();
  }
});

test('a tenant never continues or forks another tenant\'s thread of the same id', async () => {
  const store = sqlite();
  try {
    const ada = await runAgent(agent, 'My name is Ada.', { store, thread: 'shared', identity: { tenant: 'acme' } });
    assert.is((await runAgent(agent, 'What is my name?', { store, thread: 'shared', identity: { tenant: 'globex' } })).output, 'I do not know your name.');
    assert.is((await runAgent(agent, 'What is my name?', { store, thread: 'shared' })).output, 'I do not know your name.');
    assert.is((await runAgent(agent, 'What is my name?', { store, thread: 'shared', identity: { tenant: 'acme' } })).output, 'Your name is Ada.');
    assert.match(await refusal(forkThread(store, { atRun: ada.runId, newThread: 'copy', tenant: 'globex' })), /not found/i);
    const listed = await listThreads(store);
    assert.equal(listed.map((thread) => [thread.tenant ?? null, thread.thread, thread.runs]).sort(), [['acme', 'shared', 2], ['globex', 'shared', 1], [null, 'shared', 1]].sort());
    assert.equal((await listThreads(store, { tenant: 'acme' })).map((thread) => thread.runs), [2]);
  } finally {
    await store.close();
  }
});

const publish = defineTool({ name: 'publish', description: 'Publish a text.', parameters: z.object({ text: z.string() }), needsApproval: true, execute: ({ text }) => `published ${text}` });

test('a thread whose last run waits for a decision is refused, naming the run; once that run ends, the thread goes on without its unanswered call', async () => {
  const store = sqlite();
  const approvals = await startScriptedServer([
    { toolCalls: [{ id: 'c1', name: 'publish', arguments: { text: 'draft' } }] },
    { expect: (request) => assert.equal(request.messages.slice(1).map((m) => m.role), ['user', 'user']), content: 'Ready for the next one.' },
  ]);
  try {
    const publisher = defineAgent({ name: 'publisher', instructions: 'Publish.', tools: [publish], model: createOpenAIModel({ baseURL: approvals.url, apiKey: 'test', model: 'gpt-4o-mini' }) });
    const run = await startThreadRun(publisher, { input: 'Publish the draft.', store, thread: 'desk' });
    await new Promise<void>((resolve) => run.on((event) => event.type === 'approval.requested' && resolve()));
    await run.detach();
    assert.match(await refusal(runAgent(publisher, 'Next.', { store, thread: 'desk' })), new RegExp(`Thread "desk" cannot go on: its run ${run.runId} is waiting for decisions on its tool calls: approve or reject them \\(npx statecraft approve ${run.runId}`));
    const { cancelRun } = await import('../src/runtime/cancelRun.ts');
    await cancelRun(store, run.runId, { reason: 'Not today.', resume: (id) => resumeRun(publisher, id, { store }) });
    const next = await runAgent(publisher, 'Next.', { store, thread: 'desk' });
    assert.is(next.output, 'Ready for the next one.');
    approvals.assertDone();
  } finally {
    await approvals.close();
    await store.close();
  }
});

test('continuedMessages leaves out the instructions and calls without results, and keeps answered ones', () => {
  const call = (id: string) => ({ id, name: 'publish', arguments: '{}' });
  const messages: Message[] = [
    { role: 'system', content: 'old instructions' },
    { role: 'user', content: 'go' },
    { role: 'assistant', content: null, toolCalls: [call('a'), call('b')] },
    { role: 'tool', toolCallId: 'a', name: 'publish', content: 'done a' },
    { role: 'assistant', content: 'One more.', toolCalls: [call('c')] },
  ];
  assert.equal(continuedMessages(messages), [
    { role: 'user', content: 'go' },
    { role: 'assistant', content: null, toolCalls: [call('a')] },
    { role: 'tool', toolCallId: 'a', name: 'publish', content: 'done a' },
    { role: 'assistant', content: 'One more.' },
  ]);
});

test('a thread forked at its first run goes on from there, and the original thread keeps its own course', async () => {
  const store = sqlite();
  try {
    const first = await runAgent(agent, 'My name is Ada.', { store, thread: 'a' });
    await runAgent(agent, 'Actually, my name is Grace.', { store, thread: 'a' });
    const forkId = await forkThread(store, { atRun: first.runId, newThread: 'b', thread: 'a' });
    assert.is((await runAgent(agent, 'What is my name?', { store, thread: 'b' })).output, 'Your name is Ada.');
    assert.is((await runAgent(agent, 'What is my name?', { store, thread: 'a' })).output, 'Your name is Grace.');
    const b = await threadRuns(store, { thread: 'b' });
    assert.equal(b.map((run) => run.runId)[0], forkId);
    assert.equal(b[0]!.parent, { runId: first.runId, seq: (await store.summary(first.runId)).lastSeq });
    assert.match(await refusal(forkThread(store, { atRun: first.runId, newThread: 'a' })), /Thread "a" exists already/);
    assert.match(await refusal(forkThread(store, { atRun: first.runId, newThread: 'c', thread: 'b' })), /belongs to thread "a", not "b"/);
  } finally {
    await store.close();
  }
});

test('PostgreSQL finds a thread\'s runs by its indexed column, within its tenant', async () => {
  const schema = `threads_${process.pid}_${Date.now()}`;
  const store: RunStore = new PostgresStore({ connectionString: 'postgres://postgres@127.0.0.1:5432/test', schema });
  try {
    await runAgent(agent, 'My name is Ada.', { store, thread: 'pg', identity: { tenant: 'acme' } });
    assert.is((await runAgent(agent, 'What is my name?', { store, thread: 'pg', identity: { tenant: 'acme' } })).output, 'Your name is Ada.');
    assert.is((await runAgent(agent, 'What is my name?', { store, thread: 'pg' })).output, 'I do not know your name.');
    assert.equal((await store.listRuns({ thread: 'pg', tenant: 'acme' })).map((run) => run.thread), ['pg', 'pg']);
    const pg = (await import('pg')).default;
    const client = new pg.Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/test' });
    await client.connect();
    try {
      await client.query('SET enable_seqscan = off');
      const plan = await client.query(`EXPLAIN SELECT run_id FROM "${schema}".runs WHERE thread = 'pg' ORDER BY updated_at DESC LIMIT 1`);
      assert.match(plan.rows.map((row: Record<string, string>) => Object.values(row)[0]).join('\n'), /runs_by_thread/);
    } finally {
      await client.query(`DROP SCHEMA "${schema}" CASCADE`);
      await client.end();
    }
  } finally {
    await store.close();
  }
});

test('stores made before threads get the columns, filled from their runs\' headers, when first opened', async () => {
  const path = join(dir, 'older.db');
  let store: RunStore = new SqliteStore({ path });
  const first = await runAgent(agent, 'My name is Ada.', { store, thread: 'old', identity: { tenant: 'acme' } });
  await store.close();
  const Database = (await import('better-sqlite3')).default;
  const db = new Database(path);
  db.exec('DROP INDEX runs_by_thread; ALTER TABLE runs DROP COLUMN thread; ALTER TABLE runs DROP COLUMN tenant;');
  db.close();
  store = new SqliteStore({ path });
  try {
    assert.equal((await threadRuns(store, { thread: 'old', tenant: 'acme' })).map((run) => run.runId), [first.runId]);
    assert.is((await runAgent(agent, 'What is my name?', { store, thread: 'old', identity: { tenant: 'acme' } })).output, 'Your name is Ada.');
  } finally {
    await store.close();
  }
  const schema = `threads_old_${process.pid}_${Date.now()}`;
  const url = 'postgres://postgres@127.0.0.1:5432/test';
  store = new PostgresStore({ connectionString: url, schema });
  const pgFirst = await runAgent(agent, 'My name is Ada.', { store, thread: 'old' });
  await store.close();
  const pg = (await import('pg')).default;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`ALTER TABLE "${schema}".runs DROP COLUMN thread, DROP COLUMN tenant`);
    await client.query(`COMMENT ON SCHEMA "${schema}" IS 'statecraft run store, schema 4 (run leases, machine graphs, queued decisions)'`);
    store = new PostgresStore({ connectionString: url, schema });
    assert.equal((await threadRuns(store, { thread: 'old' })).map((run) => run.runId), [pgFirst.runId]);
    await store.close();
  } finally {
    await client.query(`DROP SCHEMA "${schema}" CASCADE`);
    await client.end();
  }
});

test('a long thread with a small window stays within it over several sessions, compacting a session\'s first request', async () => {
  const counter = await tokenCounterFor({ provider: 'openai', model: 'gpt-4o-mini' });
  const WINDOW = 700;
  let largest = 0;
  let summaries = 0;
  const long = await startScriptedServer((_: number, request: ScriptRequest) => {
    const tokens = counter.request(request.messages);
    largest = Math.max(largest, tokens);
    if (request.messages[0]!.content !== 'Answer from the conversation.') {
      summaries++;
      return { content: 'The user told several stories; the first said their name is Ada.' };
    }
    return chat(0, request);
  });
  const store = sqlite();
  try {
    const teller = defineAgent({
      name: 'teller',
      instructions: 'Answer from the conversation.',
      model: createOpenAIModel({ baseURL: long.url, apiKey: 'test', model: 'gpt-4o-mini' }),
      maxContextTokens: WINDOW,
      compaction: { at: 0.8, target: 0.5, strategy: [summarize({ keepLast: 2 })] },
    });
    await runAgent(teller, 'My name is Ada.', { store, thread: 'long' });
    for (let i = 1; i <= 8; i++) {
      const result = await runAgent(teller, `Story ${i}: ${'once upon a time there was a fox '.repeat(12)}`, { store, thread: 'long' });
      assert.is(result.status, 'done', result.detail);
    }
    assert.is((await runAgent(teller, 'What is my name?', { store, thread: 'long' })).output, 'Your name is Ada.');
    assert.ok(summaries >= 2, `the thread was compacted ${summaries} times`);
    assert.ok(largest <= WINDOW, `largest request ${largest} tokens`);
    const runs = await threadRuns(store, { thread: 'long' });
    const compactedFirst = await Promise.all(runs.map(async (run) => (await store.readHistory(run.runId)).some((entry) => entry.eventType.includes('compactContext'))));
    assert.ok(compactedFirst.filter(Boolean).length >= 2, 'sessions were compacted before their only request');
  } finally {
    await long.close();
    await store.close();
  }
});

test('statecraft run --thread continues a thread, statecraft threads lists it, and fork --thread starts another', async () => {
  const work = mkdtempSync(join(dir, 'cli-'));
  const module = join(work, 'agent.mts');
  writeFileSync(module, `import { defineAgent } from '${join(import.meta.dirname, '../src/index.ts')}';
export const agent = defineAgent({ name: 'cli-chat', instructions: 'Answer from the conversation.' });
export const script = (_: number, request: { messages: { role: string; content: string }[] }) => {
  const said = request.messages.map((m) => m.role === 'user' ? /my name is (\\w+)/i.exec(m.content)?.[1] : undefined).filter(Boolean);
  return { content: said.length ? 'Your name is ' + said.at(-1) + '.' : 'I do not know your name.' };
};
`);
  const { statecraft } = cliIn(work);
  const first = await statecraft(['run', module, '--input', 'My name is Ada.', '--thread', 'cli', '--json']);
  assert.is(first.code, 0, first.out);
  const second = await statecraft(['run', module, '--input', 'What is my name?', '--thread', 'cli', '--json']);
  assert.match(second.stdout, /Your name is Ada\./);
  const listed = await statecraft(['threads', '--json']);
  const threads = JSON.parse(listed.stdout) as { thread: string; runs: number; lastStatus: string; agentId: string }[];
  assert.equal(threads.map(({ thread, runs, lastStatus, agentId }) => ({ thread, runs, lastStatus, agentId })), [{ thread: 'cli', runs: 2, lastStatus: 'done', agentId: 'cli-chat' }]);
  const table = await statecraft(['threads']);
  assert.match(table.stdout, /THREAD\s+RUNS\s+LAST RUN\s+STATUS\s+AGENT\s+LAST ACTIVITY\ncli\s+2\s+\S+\s+done\s+cli-chat/);
  const shown = JSON.parse((await statecraft(['threads', 'show', 'cli', '--json'])).stdout) as { runId: string; previous?: string }[];
  assert.is(shown.length, 2);
  assert.is(shown[1]!.previous, shown[0]!.runId);
  const forked = await statecraft(['fork', shown[0]!.runId, '--thread', 'cli-b']);
  assert.is(forked.code, 0, forked.out);
  assert.match(forked.out, /Thread "cli-b" goes on from the end of run/);
  const third = await statecraft(['run', module, '--input', 'Actually my name is Grace.', '--thread', 'cli-b', '--json']);
  assert.is(third.code, 0, third.out);
  const names = JSON.parse((await statecraft(['threads', '--json'])).stdout) as { thread: string; runs: number }[];
  assert.equal(names.map(({ thread, runs }) => [thread, runs]), [['cli-b', 2], ['cli', 2]]);
});

test.after(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

test.run();
