import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { z } from 'zod';
import { createOpenAIModel, defineAgent, defineTool, exportRun, SqliteStore, startRun } from '../src/index.ts';
import type { PendingCall, RunEvent } from '../src/index.ts';
import { mapCredentials } from '../src/credentials/credentialsProvider.ts';
import { startScriptedServer } from '../src/testing/index.ts';
import { decodeText } from '../src/log/format/codec.ts';
import type { LiveMessage } from '../src/log/live/liveChannel.ts';
import { delay } from '../src/delay.ts';
import Database from 'better-sqlite3';

const exec = promisify(execFile);
const root = resolve(import.meta.dirname, '..');
const CANARY = 'sk-canary-7Q2v9XfLmN4pR8tW1zK3';
// The canary whole in each encoding, every piece of it that the redactor promises to catch (8 characters),
// and the 7 characters a cut after the first 7 would leave.
const forms = [
  CANARY,
  Buffer.from(CANARY).toString('base64'),
  Buffer.from(CANARY).toString('hex'),
  encodeURIComponent(CANARY),
  ...Array.from({ length: CANARY.length - 7 }, (_, i) => CANARY.slice(i, i + 8)),
  CANARY.slice(0, 7),
];
const assertClean = (where: string, text: string) => {
  for (const form of forms) assert.not.ok(text.includes(form), `${where} contains the canary (${form.slice(0, 12)}…)`);
};

/** Every text the SQLite store at `dbPath` holds, decoded: records, summaries, and the state index. */
function storedTexts(dbPath: string): string[] {
  const db = new Database(dbPath, { readonly: true });
  try {
    const rows = [
      ...db.prepare<[], { a: Uint8Array; b: Uint8Array | null; c: Uint8Array | null }>('SELECT body AS a, patch AS b, snapshot AS c FROM records').all(),
      ...db.prepare<[], { a: Uint8Array; b: null; c: null }>('SELECT root AS a, NULL AS b, NULL AS c FROM state_index').all(),
      ...db.prepare<[], { a: Uint8Array; b: null; c: null }>('SELECT data AS a, NULL AS b, NULL AS c FROM state_chunks').all(),
    ];
    const texts = rows.flatMap((row) => [row.a, row.b, row.c].flatMap((text) => (text === null ? [] : [decodeText(text)])));
    return [...texts, JSON.stringify(db.prepare('SELECT * FROM runs').all())];
  } finally {
    db.close();
  }
}

/** What the CLI prints for `args` against the store at `dbPath` (stdout and stderr, whatever the exit code). */
async function statecraft(args: string[], dbPath: string): Promise<string> {
  const env = { ...process.env, OPENAI_API_KEY: '', OPENAI_BASE_URL: '', NO_COLOR: '1' };
  const running = exec(process.execPath, [resolve(root, 'bin/statecraft.js'), ...args, '--store', `sqlite:${dbPath}`], { cwd: root, env, timeout: 60_000 });
  return running.then(
    ({ stdout, stderr }) => stdout + stderr,
    (error: { stdout?: string; stderr?: string }) => (error.stdout ?? '') + (error.stderr ?? ''),
  );
}

test('a secret used, echoed, encoded and thrown by tools appears in no model input, record, export, event, error or CLI output', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'statecraft-secrets-'));
  let server: Awaited<ReturnType<typeof startScriptedServer>> | undefined;
  try {
    const deploy = defineTool({
      name: 'deploy',
      description: 'Deploy with the deploy token.',
      parameters: z.object({ mode: z.enum(['echo', 'encode', 'fail']) }),
      secrets: ['deploy_token'],
      execute: async ({ mode }, ctx) => {
        const token = await ctx.secrets.get('deploy_token');
        if (mode === 'fail') throw new Error(`auth failed for Bearer ${token}`);
        return mode === 'echo' ? `deployed with ${token}` : { basic: Buffer.from(token).toString('base64') };
      },
    });
    const snoop = defineTool({
      name: 'snoop',
      description: 'Tries to read a secret it never declared.',
      parameters: z.object({}),
      execute: async (_args, ctx) => ctx.secrets.get('deploy_token'),
    });
    const agent = defineAgent({
      name: 'deployer',
      tools: [deploy, snoop],
      secrets: ['deploy_token'],
      credentials: mapCredentials({ deploy_token: CANARY }),
      limits: { maxSteps: 30 },
    });
    server = await startScriptedServer([
      {
        toolCalls: [
          { id: 'a', name: 'deploy', arguments: { mode: 'echo' } },
          { id: 'b', name: 'deploy', arguments: { mode: 'encode' } },
          { id: 'c', name: 'deploy', arguments: { mode: 'fail' } },
          { id: 'd', name: 'snoop', arguments: {} },
        ],
      },
      // Long enough for the store's state index to hold states too.
      ...Array.from({ length: 20 }, (_, i) => ({ toolCalls: [{ id: `e${i}`, name: 'deploy', arguments: { mode: 'echo' } }] })),
      { content: 'done' },
    ]);
    const dbPath = join(dir, 'runs.db');
    const store = new SqliteStore({ path: dbPath });
    const events: RunEvent[] = [];
    const model = createOpenAIModel({ baseURL: server.url, apiKey: 'test', model: 'm' });
    const run = startRun(agent, { input: 'deploy it', model, store, onEvent: (event) => events.push(event) });
    const result = await run.result;
    assert.is(result.status, 'done');

    const toolMessages = server.requests[1]!.messages.filter((m) => m.role === 'tool');
    assert.match(toolMessages[0]!.content, /deployed with \[redacted:deploy_token\]/, 'the secret was used, then redacted');
    assert.match(toolMessages[2]!.content, /auth failed for Bearer \[redacted/);
    assert.match(toolMessages[3]!.content, /not declared|declare/i, 'an undeclared secret is refused');
    for (const request of server.requests) assertClean(`model request ${request.index}`, JSON.stringify(request.body));
    assertClean('run events', JSON.stringify(events));
    assertClean('run result', JSON.stringify(result));
    let exported = '';
    for await (const line of exportRun(store, run.runId)) exported += line;
    assertClean('export', exported);
    await store.close();
    // Every stored text, decoded: records, summaries, and the states and chunks of the state index.
    const db = new Database(dbPath, { readonly: true });
    assert.ok(db.prepare<[], { n: number }>('SELECT count(*) AS n FROM state_index').get()!.n > 0, 'the run is long enough to be indexed');
    db.close();
    for (const text of storedTexts(dbPath)) assertClean('a stored text', text);
    for (const file of readdirSync(dir, { recursive: true }) as string[]) {
      if (statSync(join(dir, file)).isFile()) assertClean(`store file ${file}`, readFileSync(join(dir, file)).toString('latin1'));
    }

    for (const args of [['history', run.runId], ['show', run.runId], ['show', run.runId, '--at', '3', '--json'], ['runs'], ['export', run.runId]]) {
      assertClean(`statecraft ${args.join(' ')}`, await statecraft(args, dbPath));
    }
  } finally {
    // Closed even when an assertion fails, so a failure is reported instead of the process hanging.
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a secret cut into pieces, streamed across chunks, cut by truncation or echoed by the provider reaches no channel', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'statecraft-secrets-'));
  const fixture = resolve(root, 'test/fixtures/secrets/agent.ts');
  const { agent, input, script } = (await import(fixture)) as typeof import('./fixtures/secrets/agent.ts');
  let server: Awaited<ReturnType<typeof startScriptedServer>> | undefined;
  try {
    server = await startScriptedServer(script);
    const dbPath = join(dir, 'runs.db');
    const store = new SqliteStore({ path: dbPath });
    const events: RunEvent[] = [];
    const model = createOpenAIModel({ baseURL: server.url, apiKey: 'test', model: 'm', retry: { baseDelayMs: 1 } });
    // What another process watching the store's live channel receives (a second store on the same file).
    const watcher = new SqliteStore({ path: dbPath });
    const channel: LiveMessage[] = [];
    const run = startRun(agent, { input, model, store, onEvent: (event) => events.push(event) });
    const unwatch = await watcher.liveChannel().subscribe(run.runId, (message) => channel.push(message));
    const waiting = await new Promise<PendingCall[]>((resolve) => run.on((event) => event.type === 'approval.requested' && resolve(event.calls)));
    await run.durable();
    const summary = await store.summary(run.runId);
    assert.is((summary.waitingOn as Array<{ tool: string }> | undefined)?.[0]?.tool, 'send', 'the run waits on the send call');
    assertClean('the summary of a waiting run', JSON.stringify(summary));
    assertClean('pending approvals', JSON.stringify(run.pendingApprovals));
    run.reject(waiting[0]!.id, 'no');
    const result = await run.result;
    assert.is(result.status, 'done');

    const deltas = events.flatMap((event) => (event.type === 'delta' ? [event.text] : []));
    assert.ok(deltas.join('').includes('Token: [redacted:deploy_token] end'), `the streamed answer, redacted: ${deltas.join('|')}`);
    const streamed = () => channel.flatMap((message) => (message.type === 'delta' ? [message.text] : [])).join('');
    for (let i = 0; i < 300 && !streamed().includes('Token: [redacted:deploy_token] end'); i++) await delay(10);
    assert.ok(streamed().includes('Token: [redacted:deploy_token] end'), `the live channel carries the streamed answer, redacted: ${streamed()}`);
    assertClean('the live channel', JSON.stringify(channel));
    unwatch();
    await watcher.close();
    const retries = events.flatMap((event) => (event.type === 'model.retry' ? [event.reason] : []));
    assert.is(retries.length, 2, `an HTTP 500 and a dropped stream were retried: ${retries.join(' | ')}`);
    // The model port's own scrubbing of `sk-` keys may come first; the rest is the run's redaction.
    assert.match(retries[0]!, /^HTTP 500: upstream rejected \S*redacted\S* and \[redacted:deploy_token\]/, retries[0]);
    const tools = server.requests[3]!.messages.filter((message) => message.role === 'tool').map((message) => message.content);
    assert.is(tools.length, 6);
    assert.is(tools[0], '{"a":"[redacted:deploy_token]","b":"[redacted:deploy_token]"}');
    assert.match(tools[4]!, /^x+\[redact[^\n]*\n\n\[Output cut/, 'the cut falls in the label, not in the token');
    assert.match(tools[5]!, /refused: \[redacted:deploy_token\] \/ \[redacted:deploy_token\]/);

    // The model's own answers go back to it as they were (it wrote them); everything else it is sent is redacted.
    for (const request of server.requests) {
      const messages = (request.body.messages as Array<{ role: string }>).filter((message) => message.role !== 'assistant');
      assertClean(`model request ${request.index}`, JSON.stringify({ ...request.body, messages }));
    }
    assertClean('run events', JSON.stringify(events));
    assertClean('run result', JSON.stringify(result));
    let exported = '';
    for await (const line of exportRun(store, run.runId)) exported += line;
    assertClean('export', exported);
    await store.close();
    for (const text of storedTexts(dbPath)) assertClean('a stored text', text);
    // The run's records are scanned above; its summary is read by `runs`.
    assertClean('statecraft runs --json', await statecraft(['runs', '--json'], dbPath));

    // The same agent from the command line: its progress text and its --json event stream, up to the
    // listing of the call that waits for approval.
    for (const extra of [[], ['--json']]) {
      const out = await statecraft(['run', fixture, '--scripted', '--approve', 'wait', ...extra], dbPath);
      assert.match(out, /send/, `statecraft run ${extra.join(' ')} reached the approval: ${out}`);
      assertClean(`statecraft run ${extra.join(' ')}`, out);
    }
    for (const text of storedTexts(dbPath)) assertClean('a stored text after the CLI runs', text);
  } finally {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a run that fails on a provider error naming pieces of a secret shows them redacted wherever it is shown', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'statecraft-secrets-'));
  const { agent, input } = await import('./fixtures/secrets/agent.ts');
  let server: Awaited<ReturnType<typeof startScriptedServer>> | undefined;
  try {
    server = await startScriptedServer([
      { toolCalls: [{ name: 'leak', arguments: { how: 'first' } }] },
      { error: { status: 400, message: `invalid request: ${CANARY.slice(0, 15)} ${CANARY.slice(15)}` } },
    ]);
    const dbPath = join(dir, 'runs.db');
    const store = new SqliteStore({ path: dbPath });
    const events: RunEvent[] = [];
    const model = createOpenAIModel({ baseURL: server.url, apiKey: 'test', model: 'm' });
    const run = startRun(agent, { input, model, store, onEvent: (event) => events.push(event) });
    const result = await run.result;
    assert.is(result.status, 'failed');
    assert.match(JSON.stringify(result.error), /invalid request: \S*redacted\S* \[redacted:deploy_token\]/);
    assertClean('run result', JSON.stringify(result));
    assertClean('run events', JSON.stringify(events));
    assertClean('the summary of a failed run', JSON.stringify(await store.summary(run.runId)));
    await store.close();
    for (const text of storedTexts(dbPath)) assertClean('a stored text', text);
    for (const args of [['show', run.runId], ['runs', '--json']]) assertClean(`statecraft ${args.join(' ')}`, await statecraft(args, dbPath));
  } finally {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
