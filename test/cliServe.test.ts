// `statecraft serve` and `statecraft keys` as a user runs them: keys made, listed and revoked from
// the command line; the service started from flags, serving a module's agent over HTTP, stopped by
// SIGTERM; configuration errors said clearly.
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startScriptedServer } from '../src/testing/index.ts';
import { cli, root } from './fixtures/cli.ts';
import { readEvents } from './fixtures/service.ts';

const exec = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'statecraft-cli-serve-'));
const store = `sqlite:${join(dir, 'runs.db')}`;
const env = { ...process.env, OPENAI_API_KEY: '', OPENAI_BASE_URL: '', NO_COLOR: '1', STATECRAFT_STORE: store };

const statecraft = (args: string[], extraEnv: Record<string, string> = {}) =>
  exec(process.execPath, [cli, ...args], { cwd: root, env: { ...env, ...extraEnv }, timeout: 60_000 }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, stdout: error.stdout, stderr: error.stderr }),
  );

test('keys create prints the key alone, list never shows a secret, and revoke names what it did', async () => {
  const made = await statecraft(['keys', 'create', '--tenant', 'acme', '--scopes', 'runs:read', '--name', 'dash', '--expires', '30d']);
  assert.is(made.code, 0, made.stderr);
  const key = made.stdout.trim();
  assert.match(key, /^sck_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
  assert.match(made.stderr, /It is shown this once/);
  const keyId = key.slice(4, 20);
  const listed = await statecraft(['keys', 'list', '--tenant', 'acme']);
  assert.match(listed.stdout, new RegExp(`${keyId}  runs:read  expires 20\\d\\d-.*  dash`));
  assert.not.ok(listed.stdout.includes(key.slice(21)));
  assert.match((await statecraft(['keys', 'list', '--tenant', 'globex'])).stdout, /Tenant globex has no keys/);
  const revoked = await statecraft(['keys', 'revoke', keyId, '--tenant', 'acme']);
  assert.is(revoked.stdout, `Revoked key ${keyId} of tenant acme.\n`);
  const json = JSON.parse((await statecraft(['keys', 'list', '--tenant', 'acme', '--json'])).stdout);
  assert.ok(json[0].revokedAt);
});

test('keys refuses unknown scopes, a missing tenant and a key of another tenant, exiting 2', async () => {
  const scope = await statecraft(['keys', 'create', '--tenant', 'acme', '--scopes', 'runs:write']);
  assert.is(scope.code, 2);
  assert.match(scope.stderr, /Unknown scope "runs:write": use runs:create, runs:read, approvals:decide, secrets:write, admin/);
  const tenant = await statecraft(['keys', 'list']);
  assert.is(tenant.code, 2);
  assert.match(tenant.stderr, /--tenant is required/);
  const other = await statecraft(['keys', 'revoke', '0123456789abcdef', '--tenant', 'globex']);
  assert.is(other.code, 2);
  assert.match(other.stderr, /Tenant globex has no key "0123456789abcdef"/);
});

test('serve refuses invalid configuration before starting, naming the setting, its source and what was found', async () => {
  const port = await statecraft(['serve', '--agents', 'test/fixtures/serve/agent.ts', '--port', '99999']);
  assert.is(port.code, 2);
  assert.match(port.stderr, /port \(from --port\): .*65535.*, found 99999/);
  const fromEnv = await statecraft(['serve', '--agents', 'test/fixtures/serve/agent.ts'], { STATECRAFT_SEPARATION_OF_DUTIES: 'maybe' });
  assert.match(fromEnv.stderr, /separationOfDuties \(from STATECRAFT_SEPARATION_OF_DUTIES\): .*found "maybe"/);
  const none = await statecraft(['serve']);
  assert.match(none.stderr, /agents: expected at least one agent module/);
  const file = join(dir, 'serve.json');
  writeFileSync(file, JSON.stringify({ agents: ['test/fixtures/serve/agent.ts'], allowedOrigins: ['https://app.example.com/path'], colour: 'blue' }));
  const fromFile = await statecraft(['serve', '--config', file]);
  assert.is(fromFile.code, 2);
  assert.match(fromFile.stderr, new RegExp(`allowedOrigins.0 \\(from ${file.replace(/[.]/g, '\\.')}\\): expected an origin such as https://app\\.example\\.com`));
  assert.match(fromFile.stderr, /Unrecognized key: "colour"/);
});

test("serve hosts a module's agent over HTTP with a key made by keys create, and stops cleanly on SIGTERM", async () => {
  const model = await startScriptedServer([{ content: 'Hello from the service.' }]);
  const key = (await statecraft(['keys', 'create', '--tenant', 'acme', '--scopes', 'runs:create,runs:read'])).stdout.trim();
  const child = spawn(process.execPath, [cli, 'serve', '--agents', 'test/fixtures/serve/agent.ts', '--port', '0'], {
    cwd: root,
    env: { ...env, OPENAI_BASE_URL: model.url, OPENAI_API_KEY: 'test' },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
      const found = /Statecraft service on (http:\/\/\S+) /.exec(stderr);
      if (found) resolve(found[1]!);
    });
    child.on('exit', () => reject(new Error(`serve exited: ${stderr}`)));
  });
  try {
    const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
    const created = await fetch(`${url}/v1/runs`, { method: 'POST', headers, body: JSON.stringify({ agent: 'greeter', input: 'hi' }) });
    assert.is(created.status, 201);
    const { runId } = (await created.json()) as { runId: string };
    let status = '';
    for (let i = 0; i < 200 && status !== 'done'; i++) {
      status = ((await (await fetch(`${url}/v1/runs/${runId}`, { headers })).json()) as { summary: { status: string } }).summary.status;
      if (status !== 'done') await new Promise((resolve) => setTimeout(resolve, 25));
    }
    assert.is(status, 'done');
  } finally {
    child.kill('SIGTERM');
    await model.close();
  }
  const code = await new Promise<number | null>((resolve) => (child.exitCode === null ? child.on('exit', resolve) : resolve(child.exitCode)));
  assert.is(code, 0, stderr);
  const logs = stdout.trim().split('\n').map((line) => JSON.parse(line));
  assert.ok(logs.some((entry) => entry.msg === 'run.started' && entry.tenant === 'acme'));
  assert.is(logs.at(-1).msg, 'service.stopped');
  assert.not.ok(stdout.includes(key.slice(21)), 'the key is not logged');
});

/** `statecraft serve` in a child process, and the URL it listens on once it says so. */
async function serveChild(args: string[], extraEnv: Record<string, string>) {
  const child = spawn(process.execPath, [cli, 'serve', '--port', '0', ...args], { cwd: root, env: { ...env, ...extraEnv } });
  let stderr = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
      const found = /Statecraft service on (http:\/\/\S+) /.exec(stderr);
      if (found) resolve(found[1]!);
    });
    child.on('exit', () => reject(new Error(`serve exited: ${stderr}`)));
  });
  return { child, url };
}

test('an instance killed mid-stream loses nothing: the client reconnects to another with Last-Event-ID and the run goes on there', async () => {
  const model = await startScriptedServer([{ toolCalls: [{ id: 'call_send', name: 'send', arguments: { to: 'ops' } }] }, { content: 'Sent to ops.' }]);
  const modelEnv = { OPENAI_BASE_URL: model.url, OPENAI_API_KEY: 'test' };
  const key = (await statecraft(['keys', 'create', '--tenant', 'acme', '--scopes', 'runs:create,runs:read,approvals:decide'])).stdout.trim();
  const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
  const first = await serveChild(['--agents', 'test/fixtures/serve/sender.ts'], modelEnv);
  let second: Awaited<ReturnType<typeof serveChild>> | undefined;
  try {
    const { runId } = (await (await fetch(`${first.url}/v1/runs`, { method: 'POST', headers, body: JSON.stringify({ agent: 'sender', input: 'tell ops' }) })).json()) as { runId: string };
    const cut = await readEvents({ url: first.url }, key, runId, {
      stop: (event) => {
        if (event.event === 'status' && JSON.parse(event.data).status === 'waiting') first.child.kill('SIGKILL');
        return false;
      },
    });
    assert.ok('broken' in cut && cut.broken, 'the stream was cut by the instance dying');
    const seen = cut.events.filter((event) => event.event === 'record').map((event) => Number(event.id));
    assert.ok(seen.length > 0);
    second = await serveChild(['--agents', 'test/fixtures/serve/sender.ts'], modelEnv);
    const [pending] = (await (await fetch(`${second.url}/v1/runs/${runId}/approvals`, { headers })).json()) as { callId: string; argsHash: string }[];
    const approved = await fetch(`${second.url}/v1/runs/${runId}/approvals/${pending!.callId}/approve`, { method: 'POST', headers, body: JSON.stringify({ argsHash: pending!.argsHash, by: 'ops-lead' }) });
    assert.is(approved.status, 202);
    const rest = await readEvents({ url: second.url }, key, runId, { lastEventId: String(seen.at(-1)) });
    const end = JSON.parse(rest.events.at(-1)!.data);
    assert.is(end.status, 'done');
    const resumed = rest.events.filter((event) => event.event === 'record').map((event) => Number(event.id));
    assert.equal([...seen, ...resumed], [...Array(end.lastSeq + 1).keys()], 'every record once, across both instances');
  } finally {
    first.child.kill('SIGKILL');
    second?.child.kill('SIGTERM');
    await model.close();
  }
});

test.run();
