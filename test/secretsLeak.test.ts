import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { z } from 'zod';
import { createOpenAIModel, defineAgent, defineTool, exportRun, SqliteStore, startRun } from '../src/index.ts';
import type { RunEvent } from '../src/index.ts';
import { mapCredentials } from '../src/credentials/credentialsProvider.ts';
import { startScriptedServer } from '../src/testing/index.ts';
import { decodeText } from '../src/log/codec.ts';
import Database from 'better-sqlite3';

const exec = promisify(execFile);
const root = resolve(import.meta.dirname, '..');
const CANARY = 'sk-canary-7Q2v9XfLmN4pR8tW1zK3';
const forms = [CANARY, Buffer.from(CANARY).toString('base64'), Buffer.from(CANARY).toString('hex'), encodeURIComponent(CANARY)];
const assertClean = (where: string, text: string) => {
  for (const form of forms) assert.not.ok(text.includes(form), `${where} contains the canary (${form.slice(0, 12)}…)`);
};

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
    // Every stored text, decoded: records, and the states and chunks of the state index.
    const db = new Database(dbPath, { readonly: true });
    const stored = [
      ...db.prepare<[], { a: Uint8Array; b: Uint8Array | null; c: Uint8Array | null }>('SELECT body AS a, patch AS b, snapshot AS c FROM records').all(),
      ...db.prepare<[], { a: Uint8Array; b: null; c: null }>('SELECT root AS a, NULL AS b, NULL AS c FROM state_index').all(),
      ...db.prepare<[], { a: Uint8Array; b: null; c: null }>('SELECT data AS a, NULL AS b, NULL AS c FROM state_chunks').all(),
    ];
    assert.ok(db.prepare<[], { n: number }>('SELECT count(*) AS n FROM state_index').get()!.n > 0, 'the run is long enough to be indexed');
    db.close();
    for (const row of stored) for (const text of [row.a, row.b, row.c]) if (text) assertClean('a stored text', decodeText(text));
    for (const file of readdirSync(dir)) assertClean(`store file ${file}`, readFileSync(join(dir, file)).toString('latin1'));

    const env = { ...process.env, OPENAI_API_KEY: '', OPENAI_BASE_URL: '' };
    for (const args of [['history', run.runId], ['show', run.runId], ['show', run.runId, '--at', '3', '--json'], ['runs'], ['export', run.runId]]) {
      const { stdout, stderr } = await exec(process.execPath, [resolve(root, 'bin/statecraft.js'), ...args, '--store', `sqlite:${dbPath}`], { cwd: root, env });
      assertClean(`statecraft ${args.join(' ')}`, stdout + stderr);
    }
  } finally {
    // Closed even when an assertion fails, so a failure is reported instead of the process hanging.
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
