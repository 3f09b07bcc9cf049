// Tenants' secrets over real HTTP, against SQLite and PostgreSQL service stores: set, listed and
// deleted without a value ever coming back; encrypted at rest; handed to the tools of the tenant's own
// runs through their credentials and redacted from the log, the model's requests and the service's logs.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { z } from 'zod';
import { createOpenAIModel, defineAgent, defineTool } from '../src/index.ts';
import { exportRunText } from '../src/log/exchange/jsonl.ts';
import { openStore } from '../src/log/stores/openStore.ts';
import { UserError } from '../src/errors.ts';
import { createServer } from '../src/service/createServer.ts';
import { MasterKeys } from '../src/service/secrets/envelope.ts';
import { startScriptedServer, type ScriptedServer, type ScriptRequest } from '../src/testing/index.ts';
import { rejection } from './fixtures/helpers.ts';
import { call, startService, until, type TestService } from './fixtures/service.ts';

const PG_URL = process.env.STATECRAFT_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const root = resolve(import.meta.dirname, '..');
delete process.env.STATECRAFT_MASTER_KEY;
delete process.env.STATECRAFT_MASTER_KEY_PREVIOUS;
delete process.env.STATECRAFT_MASTER_KEY_FILE;

const VALUE_A = 'tok-acme-Q7v2XfLmN4pR8tW1zK3s';
const VALUE_B = 'tok-globex-H5j9CxVb2Nq8Lr4Ty6u';
const VALUE_A2 = 'tok-acme-second-Pz3Wq8Rt5Yu1Io7';
const VALUES = [VALUE_A, VALUE_B, VALUE_A2];
/** Each value whole, encoded, and pieces long enough that the redactor promises to catch them. */
const forms = (value: string) => [value, Buffer.from(value).toString('base64'), Buffer.from(value).toString('hex'), encodeURIComponent(value), value.slice(4, 14), value.slice(-10)];
const assertClean = (where: string, text: string) => {
  for (const value of VALUES) for (const form of forms(value)) assert.not.ok(text.includes(form), `${where} contains a secret (${form.slice(0, 8)}…)`);
};

/** The values the tool received, in order. */
const received: string[] = [];
const callApi = defineTool({
  name: 'call_api',
  description: 'Calls the deploy API with the tenant token.',
  parameters: z.object({ endpoint: z.string() }),
  secrets: ['api_token'],
  // Returns the token in its result: the redactor must take it out before the model or the log sees it.
  execute: async ({ endpoint }, ctx) => {
    const token = await ctx.secrets.get('api_token');
    received.push(token);
    return `called ${endpoint} with Authorization: Bearer ${token}`;
  },
});

function answer(_index: number, request: ScriptRequest) {
  const last = request.messages.at(-1);
  if (last?.role === 'tool') return { content: `Done: ${last.content}` };
  return { toolCalls: [{ id: `call_${randomBytes(4).toString('hex')}`, name: 'call_api', arguments: { endpoint: '/deploy' } }] };
}

interface Backend {
  url: string;
  /** Runs SQL with `?` placeholders against the store's database, in its schema. */
  sql(text: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
  dispose(): Promise<void>;
}

function sqliteBackend(): Backend {
  const path = join(mkdtempSync(join(tmpdir(), 'statecraft-secrets-')), 'runs.db');
  return {
    url: `sqlite:${path}`,
    sql: async (text, params = []) => {
      const db = new Database(path);
      try {
        const statement = db.prepare(text);
        return statement.reader ? (statement.all(...params) as Record<string, unknown>[]) : (statement.run(...params), []);
      } finally {
        db.close();
      }
    },
    dispose: async () => {},
  };
}

function postgresBackend(): Backend {
  const schema = `sec_${randomBytes(6).toString('hex')}`;
  const query = async (text: string, params: unknown[] = []) => {
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    try {
      await client.query(`SET search_path TO "${schema}"`);
      let n = 0;
      return (await client.query(text.replace(/\?/g, () => `$${++n}`), params)).rows as Record<string, unknown>[];
    } finally {
      await client.end();
    }
  };
  return { url: `${PG_URL}?schema=${schema}`, sql: query, dispose: async () => void (await query(`DROP SCHEMA "${schema}" CASCADE`)) };
}

/** The CLI on the built package, with `input` on stdin; its exit code and output. */
function cli(args: string[], env: Record<string, string>, input = ''): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [resolve(root, 'bin/statecraft.js'), ...args], { cwd: root, env: { ...process.env, NO_COLOR: '1', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('close', (code) => done({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

for (const [backendName, makeBackend] of [['sqlite', sqliteBackend], ['postgres', postgresBackend]] as const) {
  const it = suite(`secrets (${backendName})`);
  const K1 = randomBytes(32);
  const K2 = randomBytes(32);
  let backend: Backend;
  let model: ScriptedServer;
  let s: TestService;
  let writer: string;
  let runner: Record<'acme' | 'globex' | 'initech', string>;

  const serve = async (keys: MasterKeys | undefined) => {
    const agent = defineAgent({ name: 'deployer', instructions: 'Deploy.', tools: [callApi], secrets: ['api_token'], model: createOpenAIModel({ baseURL: model.url, apiKey: 'test', model: 'gpt-4o-mini' }) });
    s = await startService({ agents: [agent], ...(keys ? { masterKeys: keys } : {}) }, backend.url);
    writer = (await s.key('acme', ['secrets:write'])).key;
    runner = {
      acme: (await s.key('acme', ['runs:create', 'runs:read'])).key,
      globex: (await s.key('globex', ['runs:create', 'runs:read'])).key,
      initech: (await s.key('initech', ['runs:create', 'runs:read'])).key,
    };
  };
  const put = (name: string, value: unknown, key = writer) => call(s, `/v1/secrets/${name}`, { key, method: 'PUT', body: { value } });
  /** Runs the deploy agent for a tenant; the tool message the model was then sent. */
  const deploy = async (tenant: keyof typeof runner) => {
    const created = await call(s, '/v1/runs', { key: runner[tenant], body: { agent: 'deployer', input: 'deploy please' } });
    assert.is(created.status, 201, created.text);
    await until(s, runner[tenant], created.json.runId, ['done']);
    const request = model.requests.at(-1)!;
    return { runId: created.json.runId as string, tool: request.messages.findLast((message) => message.role === 'tool')?.content ?? '' };
  };

  it.before(async () => {
    backend = makeBackend();
    model = await startScriptedServer(answer);
    await serve(new MasterKeys(K1));
  });
  it.after(async () => {
    await s.close();
    await model.close();
    await backend.dispose();
  });

  it('secrets are set, versioned, listed and deleted per tenant; no answer holds a value', async () => {
    const first = await put('api_token', VALUE_A2);
    assert.is(first.status, 201, first.text);
    assert.equal(Object.keys(first.json).sort(), ['createdAt', 'name', 'updatedAt', 'version']);
    assert.is(first.json.version, 1);
    const second = await put('api_token', VALUE_A);
    assert.is(second.status, 200);
    assert.is(second.json.version, 2);
    assert.is(second.json.createdAt, first.json.createdAt);
    const globex = (await s.key('globex', ['admin'])).key;
    assert.is((await put('api_token', VALUE_B, globex)).json.version, 1, "another tenant's secret of the same name is its own");
    const listed = await call(s, '/v1/secrets', { key: writer });
    assert.equal(listed.json.map((secret: { name: string; version: number }) => [secret.name, secret.version]), [['api_token', 2]]);
    assert.is((await put('spare', 'spare-value-123', globex)).status, 201);
    assert.is((await call(s, '/v1/secrets/spare', { key: writer, method: 'DELETE' })).status, 404, "acme cannot delete globex's secret");
    const deleted = await call(s, '/v1/secrets/spare', { key: globex, method: 'DELETE' });
    assert.is(deleted.status, 204);
    const missing = await call(s, '/v1/secrets/spare', { key: globex, method: 'DELETE' });
    assert.is(missing.status, 404);
    assert.is(missing.headers.get('content-type'), 'application/problem+json');
    assert.match(missing.json.detail, /Your tenant has no secret "spare": list them with GET \/v1\/secrets/);
    assert.equal((await call(s, '/v1/secrets', { key: globex })).json.map((secret: { name: string }) => secret.name), ['api_token']);
    for (const answerText of [first.text, second.text, listed.text, deleted.text, missing.text]) assertClean('an answer', answerText);
  });

  it('the stored rows hold no value, in any encoding', async () => {
    const rows = await backend.sql('SELECT * FROM service_secrets ORDER BY tenant_id, name');
    assert.equal(rows.map((row) => [row.tenant_id, row.name]), [['acme', 'api_token'], ['globex', 'api_token']]);
    assertClean('the secrets table', JSON.stringify(rows));
    for (const row of rows) {
      assert.is(row.key_id, MasterKeys.idOf(K1));
      assert.match(String(row.ciphertext), /^v1\.[A-Za-z0-9+/]+=*$/);
    }
  });

  it('scopes, names, types and sizes are checked; refusals are problem documents that never echo the value', async () => {
    const reader = (await s.key('acme', ['runs:read', 'runs:create'])).key;
    const refused = [
      [await put('api_token', VALUE_A2, reader), 403, /does not have the scope "secrets:write"/],
      [await call(s, '/v1/secrets', { key: reader }), 403, /secrets:write/],
      [await put('bad%20name!', VALUE_A2), 400, /expected a secret name: 1-128 letters/],
      [await put('x'.repeat(129), VALUE_A2), 400, /expected a secret name/],
      [await put('api_token', 'abc'), 400, /expected at least 4 characters/],
      [await put('api_token', 12345678), 400, /expected the value as a string/],
      [await call(s, '/v1/secrets/api_token', { key: writer, method: 'PUT', body: { value: VALUE_A2, note: VALUE_A2 } }), 400, /note/],
      [await call(s, '/v1/secrets/api_token', { key: writer, method: 'PUT', body: `{"value": "${VALUE_A2}"` }), 400, /not valid JSON/],
      [await put('api_token', `${VALUE_A2}${'é'.repeat(32_768)}`), 413, /is 65\d\d\d bytes; a secret holds at most 65536/],
      [await call(s, '/v1/secrets/api_token', { method: 'PUT', body: { value: VALUE_A2 } }), 401, /./],
    ] as const;
    for (const [response, status, detail] of refused) {
      assert.is(response.status, status, response.text.slice(0, 300));
      assert.is(response.headers.get('content-type'), 'application/problem+json');
      assert.match(response.json.detail, detail);
      assertClean('a refusal', response.text);
    }
    assert.is((await call(s, '/v1/secrets', { key: writer })).json[0].version, 2, 'nothing refused was stored');
    assertClean('the service log', s.logs.join(''));
  });

  it("a run's tool receives its own tenant's secret; the value reaches neither the log, the model nor the service logs", async () => {
    const acme = await deploy('acme');
    assert.is(received.at(-1), VALUE_A);
    assert.is(acme.tool, 'called /deploy with Authorization: Bearer [redacted:api_token]');
    const globex = await deploy('globex');
    assert.is(received.at(-1), VALUE_B);
    assert.is(globex.tool, 'called /deploy with Authorization: Bearer [redacted:api_token]');
    const store = openStore(backend.url);
    try {
      for (const runId of [acme.runId, globex.runId]) {
        const exported = await exportRunText(store, runId);
        assert.ok(exported.includes('[redacted:api_token]'), 'the log holds the redacted result');
        assertClean(`the exported log of ${runId}`, exported);
        assertClean('the history over HTTP', (await call(s, `/v1/runs/${runId}/history`, { key: runner[runId === acme.runId ? 'acme' : 'globex'] })).text);
      }
    } finally {
      await store.close();
    }
    assertClean('the model requests', JSON.stringify(model.requests.map((request) => request.body)));
    assertClean('the service log', s.logs.join(''));
    assert.ok(s.logs.some((line) => line.includes('"msg":"secret.set"') && line.includes('"name":"api_token"')), 'setting a secret is logged, by name');
  });

  it("a tenant without the secret finds none: another tenant's is never read", async () => {
    const before = received.length;
    const initech = await deploy('initech');
    assert.is(received.length, before, 'the tool got no value');
    assert.match(initech.tool, /needs secret "api_token", which was not found in the service's secrets of tenant "initech" \(PUT \/v1\/secrets\/api_token\), then environment variable STATECRAFT_SECRET_API_TOKEN/);
  });

  it('a tampered ciphertext, or a row copied to another tenant, fails to decrypt and says so', async () => {
    const [row] = await backend.sql("SELECT * FROM service_secrets WHERE tenant_id = 'acme' AND name = 'api_token'");
    const original = String(row!.ciphertext);
    const body = Buffer.from(original.slice(3), 'base64');
    body[body.length - 1] = (body[body.length - 1] as number) ^ 1;
    await backend.sql("UPDATE service_secrets SET ciphertext = ? WHERE tenant_id = 'acme' AND name = 'api_token'", [`v1.${body.toString('base64')}`]);
    const before = received.length;
    const tampered = await deploy('acme');
    assert.match(tampered.tool, /Secret "api_token" of tenant "acme" could not be decrypted: its ciphertext does not authenticate\. The stored row was altered, or copied from another tenant or name; set the secret again/);
    await backend.sql("UPDATE service_secrets SET ciphertext = ? WHERE tenant_id = 'acme' AND name = 'api_token'", [original]);
    await backend.sql(
      "INSERT INTO service_secrets (tenant_id, name, version, key_id, wrapped_key, ciphertext, created_at, updated_at) SELECT 'initech', name, version, key_id, wrapped_key, ciphertext, created_at, updated_at FROM service_secrets WHERE tenant_id = 'acme' AND name = 'api_token'",
    );
    const copied = await deploy('initech');
    assert.match(copied.tool, /Secret "api_token" of tenant "initech" could not be decrypted: its wrapped data key does not authenticate .*copied from another tenant or name/);
    assert.is(received.length, before, 'no tool got a value');
    await backend.sql("DELETE FROM service_secrets WHERE tenant_id = 'initech'");
    assert.is((await deploy('acme')).tool, 'called /deploy with Authorization: Bearer [redacted:api_token]', 'the restored row reads again');
    assert.is(received.at(-1), VALUE_A);
  });

  it('a master key rotation re-wraps every data key; afterwards the old key can be dropped', async () => {
    await s.close();
    await serve(new MasterKeys(K2, [K1]));
    assert.is((await deploy('globex')).tool, 'called /deploy with Authorization: Bearer [redacted:api_token]', 'the previous key reads the old wrapping');
    assert.is(received.at(-1), VALUE_B);
    assert.is((await put('other_token', 'other-value-0123')).status, 201);
    const env = { STATECRAFT_MASTER_KEY: K2.toString('base64'), STATECRAFT_MASTER_KEY_PREVIOUS: K1.toString('base64') };
    const rotated = await cli(['secrets', 'rotate-master-key', '--store', backend.url], env);
    assert.is(rotated.code, 0, rotated.stderr);
    assert.match(rotated.stdout, new RegExp(`Re-wrapped 2 secrets under master key ${MasterKeys.idOf(K2)}\\.`));
    assert.match(rotated.stderr, /the previous keys can be dropped/);
    const rows = await backend.sql('SELECT * FROM service_secrets');
    assert.equal([...new Set(rows.map((row) => row.key_id))], [MasterKeys.idOf(K2)]);
    const again = await cli(['secrets', 'rotate-master-key', '--store', backend.url, '--json'], env);
    assert.equal(JSON.parse(again.stdout), { keyId: MasterKeys.idOf(K2), rewrapped: 0, changedMeanwhile: 0, unreadable: [] });
    await s.close();
    await serve(new MasterKeys(K2));
    assert.is((await deploy('acme')).tool, 'called /deploy with Authorization: Bearer [redacted:api_token]');
    assert.is(received.at(-1), VALUE_A);
    assert.is((await deploy('globex')).tool, 'called /deploy with Authorization: Bearer [redacted:api_token]');
    assert.is(received.at(-1), VALUE_B);
    const noKey = await cli(['secrets', 'rotate-master-key', '--store', backend.url], {});
    assert.is(noKey.code, 2);
    assert.match(noKey.stderr, /Rotating the master key needs a master key, and none is set: set STATECRAFT_MASTER_KEY/);
  });

  it('the CLI sets from stdin, lists and deletes; a value is never printed', async () => {
    const env = { STATECRAFT_MASTER_KEY: K2.toString('base64') };
    const set = await cli(['secrets', 'set', 'cli_token', '--tenant', 'globex', '--store', backend.url], env, `${VALUE_A2}\n`);
    assert.is(set.code, 0, set.stderr);
    assert.is(set.stdout, 'Set secret cli_token of tenant globex (version 1).\n');
    const listed = await cli(['secrets', 'list', '--tenant', 'globex', '--store', backend.url, '--json'], {});
    assert.equal(JSON.parse(listed.stdout).map((secret: { name: string }) => secret.name), ['api_token', 'cli_token']);
    for (const output of [set, listed]) assertClean('the CLI output', output.stdout + output.stderr);
    const [row] = await backend.sql("SELECT * FROM service_secrets WHERE tenant_id = 'globex' AND name = 'cli_token'");
    assertClean('the row the CLI wrote', JSON.stringify(row));
    const deleted = await cli(['secrets', 'delete', 'cli_token', '--tenant', 'globex', '--store', backend.url], {});
    assert.is(deleted.code, 0, deleted.stderr);
    const gone = await cli(['secrets', 'delete', 'cli_token', '--tenant', 'globex', '--store', backend.url], {});
    assert.is(gone.code, 2);
    assert.match(gone.stderr, /Tenant globex has no secret "cli_token": list its secrets with `npx statecraft secrets list --tenant globex( --store \S+)?`/);
    const badName = await cli(['secrets', 'set', 'bad name', '--tenant', 'globex', '--store', backend.url], env, 'value-1234');
    assert.is(badName.code, 2);
    assert.match(badName.stderr, /"bad name" is not a secret name/);
    const noKey = await cli(['secrets', 'set', 'cli_token', '--tenant', 'globex', '--store', backend.url], {}, 'value-1234');
    assert.is(noKey.code, 2);
    assert.match(noKey.stderr, /Setting secret "cli_token" needs a master key/);
  });

  it('without a master key the service lists and deletes secrets but refuses to set one (503)', async () => {
    await s.close();
    await serve(undefined);
    const refused = await put('api_token', VALUE_A2);
    assert.is(refused.status, 503);
    assert.match(refused.json.detail, /started without a master key, so it cannot store secret "api_token": its operator must set STATECRAFT_MASTER_KEY \(or --master-key-file\)/);
    assertClean('the refusal', refused.text);
    assert.equal((await call(s, '/v1/secrets', { key: writer })).json.map((secret: { name: string }) => secret.name), ['api_token', 'other_token']);
    const run = await deploy('acme');
    assert.match(run.tool, /Reading secret "api_token" of tenant "acme" needs a master key/);
  });

  if (backendName === 'sqlite') {
    it('a master key that is not base64 of 32 bytes stops the service at start, from the environment or a file', async () => {
      const agent = defineAgent({ name: 'plain', instructions: 'Hi.', model: createOpenAIModel({ baseURL: model.url, apiKey: 'test', model: 'gpt-4o-mini' }) });
      const dir = mkdtempSync(join(tmpdir(), 'statecraft-master-'));
      const short = join(dir, 'short.key');
      writeFileSync(short, `${randomBytes(16).toString('base64')}\n`, { mode: 0o600 });
      const fromFile = await rejection(createServer({ agents: [agent], store: `sqlite:${join(dir, 'a.db')}`, port: 0, log: () => {}, masterKeyFile: short }));
      assert.instance(fromFile, UserError);
      assert.match((fromFile as Error).message, /Line 1 of the master key file .*short\.key decodes to 16 bytes; a master key is 32 bytes/);
      process.env.STATECRAFT_MASTER_KEY = 'not-a-key!';
      try {
        const fromEnv = await rejection(createServer({ agents: [agent], store: `sqlite:${join(dir, 'b.db')}`, port: 0, log: () => {} }));
        assert.match((fromEnv as Error).message, /STATECRAFT_MASTER_KEY is not base64/);
      } finally {
        delete process.env.STATECRAFT_MASTER_KEY;
      }
      const good = join(dir, 'good.key');
      writeFileSync(good, `${K2.toString('base64')}\n${K1.toString('base64')}\n`, { mode: 0o600 });
      const logs: string[] = [];
      const server = await createServer({ agents: [agent], store: `sqlite:${join(dir, 'c.db')}`, port: 0, log: (line) => logs.push(line), masterKeyFile: good });
      await server.listen();
      await server.close();
      assert.ok(logs.some((line) => line.includes(`"masterKeyIds":["${MasterKeys.idOf(K2)}","${MasterKeys.idOf(K1)}"]`)), 'the ids of the keys are logged, and nothing of the keys');
      assert.not.ok(logs.join('').includes(K2.toString('base64')));
    });

    it('the OpenAPI document describes the secret routes, with no value in any answer', async () => {
      const doc = (await call(s, '/openapi.json')).json;
      assert.ok(doc.paths['/v1/secrets'].get);
      assert.ok(doc.paths['/v1/secrets/{name}'].put && doc.paths['/v1/secrets/{name}'].delete);
      assert.equal(Object.keys(doc.components.schemas.Secret.properties).sort(), ['createdAt', 'name', 'updatedAt', 'version']);
      assert.ok(doc.components.schemas.SetSecret.properties.value);
    });
  }

  it.run();
}
