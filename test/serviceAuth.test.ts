// The service refuses what it must, over real HTTP, with problem+json in the CLI's clear wording:
// missing, malformed, revoked and expired keys, missing scopes, oversize and malformed bodies,
// disallowed origins, and a client guessing keys, which is refused and logged.
import { createHash, randomBytes } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { UserError } from '../src/errors.ts';
import { defineAgent } from '../src/index.ts';
import { createServer } from '../src/service/createServer.ts';
import { jsonLogger } from '../src/service/http/jsonLog.ts';
import { openServiceStore } from '../src/service/store/openServiceStore.ts';
import { rejection } from './fixtures/helpers.ts';
import { call, startService, type TestService } from './fixtures/service.ts';

let s: TestService;
test.before(async () => {
  s = await startService();
});
test.after(async () => {
  await s.close();
});

const problem = (answer: { status: number; headers: Headers; json: any }, status: number, type: string) => {
  assert.is(answer.status, status);
  assert.is(answer.headers.get('content-type'), 'application/problem+json');
  assert.is(answer.json.type, `https://statecraft.dev/problems/${type}`);
  assert.is(answer.json.status, status);
};

test('a request without a key, or with one not in the form of a key, is refused with 401 saying what to send', async () => {
  const missing = await call(s, '/v1/runs');
  problem(missing, 401, 'key-missing');
  assert.match(missing.json.detail, /needs an API key: send it as "Authorization: Bearer sck_…"/);
  assert.is(missing.headers.get('www-authenticate'), 'Bearer realm="statecraft"');
  const malformed = await call(s, '/v1/runs', { headers: { authorization: 'Bearer not-a-key' } });
  problem(malformed, 401, 'key-malformed');
  assert.match(malformed.json.detail, /not in the form "sck_<16 characters>_<43 characters>"/);
  problem(await call(s, '/v1/runs', { headers: { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` } }), 401, 'key-malformed');
  const forged = `${s.keys.a.slice(0, 21)}${randomBytes(32).toString('base64url')}`;
  problem(await call(s, '/v1/runs', { key: forged }), 401, 'key-unknown');
});

test('a revoked key and an expired key are refused, each saying so and what to do', async () => {
  const admin = await s.key('acme', ['admin']);
  const doomed = await s.key('acme', ['runs:read']);
  assert.is((await call(s, '/v1/runs', { key: doomed.key })).status, 200);
  assert.is((await call(s, `/v1/keys/${doomed.keyId}`, { key: admin.key, method: 'DELETE' })).status, 204);
  const revoked = await call(s, '/v1/runs', { key: doomed.key });
  problem(revoked, 401, 'key-revoked');
  assert.match(revoked.json.detail, new RegExp(`The API key ${doomed.keyId} was revoked at 20\\d\\d-`));
  // A key whose expiry has passed, stored as `keys create --expires` stores one.
  const service = openServiceStore(s.store);
  const secret = randomBytes(32).toString('base64url');
  const keyId = randomBytes(8).toString('hex');
  await service.addKey({ keyId, tenantId: 'acme', name: 'old', hash: createHash('sha256').update(secret).digest('hex'), scopes: ['runs:read'], createdAt: '2026-01-01T00:00:00.000Z', expiresAt: '2026-02-01T00:00:00.000Z' });
  await service.close();
  const expired = await call(s, '/v1/runs', { key: `sck_${keyId}_${secret}` });
  problem(expired, 401, 'key-expired');
  assert.match(expired.json.detail, new RegExp(`The API key ${keyId} expired at 2026-02-01T00:00:00.000Z`));
});

test('a key without the scope a route needs is refused with 403 naming the scope', async () => {
  const reader = await s.key('acme', ['runs:read']);
  const refused = await call(s, '/v1/runs', { key: reader.key, body: { agent: 'support', input: 'hi' } });
  problem(refused, 403, 'missing-scope');
  assert.match(refused.json.detail, new RegExp(`API key ${reader.keyId} does not have the scope "runs:create" \\(it has runs:read\\)`));
  problem(await call(s, '/v1/keys', { key: s.keys.a }), 403, 'missing-scope');
});

test('oversize bodies, malformed JSON and bodies that do not match the schema are refused before anything starts', async () => {
  const asked = s.model.requests.length;
  const huge = await call(s, '/v1/runs', { key: s.keys.a, body: { agent: 'support', input: 'x'.repeat(1_100_000) } });
  problem(huge, 413, 'body-too-large');
  assert.match(huge.json.detail, /larger than 1048576 bytes/);
  const broken = await call(s, '/v1/runs', { key: s.keys.a, body: '{"agent": "support", "input": ' });
  problem(broken, 400, 'malformed-json');
  assert.match(broken.json.detail, /not valid JSON/);
  const form = await call(s, '/v1/runs', { key: s.keys.a, body: '{"agent": "support", "input": "hi"}', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  problem(form, 415, 'unsupported-media-type');
  assert.match(form.json.detail, /sent as application\/x-www-form-urlencoded, and this route takes JSON: send it with content-type application\/json/);
  const wrong = await call(s, '/v1/runs', { key: s.keys.a, body: { agent: 'support', input: 42, extra: true } });
  problem(wrong, 400, 'invalid-request');
  assert.equal(wrong.json.issues.map((issue: { path: string }) => issue.path).sort(), ['(root)', 'input']);
  assert.match(wrong.json.detail, /^POST \/v1\/runs was refused: at /);
  const unknownAgent = await call(s, '/v1/runs', { key: s.keys.a, body: { agent: 'billing', input: 'hi' } });
  problem(unknownAgent, 422, 'unknown-agent');
  assert.match(unknownAgent.json.detail, /No agent "billing" is served here; agents served: support/);
  assert.is(s.model.requests.length, asked, 'no model was asked');
  assert.equal((await call(s, '/v1/runs', { key: s.keys.a })).json.runs, [], 'no run was made');
});

test('a request from an Origin not allowed is refused; an allowed one gets CORS headers and its preflight', async () => {
  const refused = await call(s, '/v1/runs', { key: s.keys.a, headers: { origin: 'https://evil.example' } });
  problem(refused, 403, 'origin-not-allowed');
  assert.match(refused.json.detail, /--allowed-origin https:\/\/evil\.example/);
  const open = await startService({ allowedOrigins: ['https://app.example.com'] });
  try {
    const allowed = await call(open, '/v1/runs', { key: open.keys.a, headers: { origin: 'https://app.example.com' } });
    assert.is(allowed.status, 200);
    assert.is(allowed.headers.get('access-control-allow-origin'), 'https://app.example.com');
    const preflight = await call(open, '/v1/runs', { method: 'OPTIONS', headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST' } });
    assert.is(preflight.status, 204);
    assert.match(preflight.headers.get('access-control-allow-headers') ?? '', /authorization/);
    const failed = await call(open, '/v1/runs/no-such-run', { key: open.keys.a, headers: { origin: 'https://app.example.com' } });
    problem(failed, 404, 'run-not-found');
    assert.is(failed.headers.get('access-control-allow-origin'), 'https://app.example.com', 'the page can read the problem');
    assert.ok(failed.headers.get('x-request-id'));
    problem(await call(open, '/v1/runs', { key: open.keys.a, headers: { origin: 'https://app.example.com.evil.example' } }), 403, 'origin-not-allowed');
  } finally {
    await open.close();
  }
});

test('a client that keeps sending bad keys is refused with 429 and Retry-After, and each refusal is logged without the key', async () => {
  const guarded = await startService({ authFailures: { max: 3, windowMs: 60_000 } });
  try {
    const guesses = [0, 1, 2].map(() => `sck_${randomBytes(8).toString('hex')}_${randomBytes(32).toString('base64url')}`);
    for (const guess of guesses) assert.is((await call(guarded, '/v1/runs', { key: guess })).status, 401);
    const blocked = await call(guarded, '/v1/runs', { key: guesses[0] });
    problem(blocked, 429, 'too-many-failed-authentications');
    assert.ok(Number(blocked.headers.get('retry-after')) > 0);
    assert.is((await call(guarded, '/v1/runs', { key: guarded.keys.a })).status, 429, 'even a good key, from that client, until the window ends');
    const entries = guarded.logs.map((line) => JSON.parse(line));
    const refusals = entries.filter((entry) => entry.msg === 'auth.refused');
    assert.equal(refusals.map((entry) => entry.reason), ['unknown', 'unknown', 'unknown']);
    assert.equal(refusals.map((entry) => entry.keyId), guesses.map((guess) => guess.slice(4, 20)));
    assert.ok(entries.some((entry) => entry.msg === 'auth.blocked' && entry.client === '127.0.0.1'));
    const text = guarded.logs.join('');
    for (const secret of [...guesses, guarded.keys.a, guarded.keys.b] as string[]) assert.not.ok(text.includes(secret.slice(21)), 'no secret in the log');
  } finally {
    await guarded.close();
  }
});

test('behind a trusted proxy, failed keys are counted per forwarded client; untrusted, the header changes nothing', async () => {
  const forged = () => `sck_${randomBytes(8).toString('hex')}_${randomBytes(32).toString('base64url')}`;
  const behind = await startService({ trustProxy: true, authFailures: { max: 2, windowMs: 60_000 } });
  const open = await startService({ authFailures: { max: 2, windowMs: 60_000 } });
  try {
    const from = (client: string) => ({ 'x-forwarded-for': `203.0.113.9, ${client}` });
    for (let i = 0; i < 2; i++) await call(behind, '/v1/runs', { key: forged(), headers: from('198.51.100.1') });
    assert.is((await call(behind, '/v1/runs', { key: behind.keys.a, headers: from('198.51.100.1') })).status, 429);
    assert.is((await call(behind, '/v1/runs', { key: behind.keys.a, headers: from('198.51.100.2') })).status, 200, 'another client is not refused');
    assert.ok(behind.logs.some((line) => JSON.parse(line).msg === 'auth.blocked' && JSON.parse(line).client === '198.51.100.1'));
    for (let i = 0; i < 2; i++) await call(open, '/v1/runs', { key: forged(), headers: from(`198.51.100.${i}`) });
    assert.is((await call(open, '/v1/runs', { key: open.keys.a, headers: from('198.51.100.7') })).status, 429, 'a forged header does not escape the count');
  } finally {
    await behind.close();
    await open.close();
  }
});

test('log lines are JSON with secret fields and anything shaped like a key redacted', () => {
  const lines: string[] = [];
  const logger = jsonLogger('info', (line) => lines.push(line));
  logger.log('debug', 'hidden');
  logger.log('error', 'failed', { authorization: 'Bearer x', nested: { password: 'p', note: `sent ${s.keys.a} by mistake` }, error: new Error(`bad ${s.keys.b}`) });
  assert.is(lines.length, 1);
  const entry = JSON.parse(lines[0]!);
  assert.is(entry.authorization, '[redacted]');
  assert.is(entry.nested.password, '[redacted]');
  assert.is(entry.nested.note, `sent ${s.keys.a.slice(0, 21)}_[redacted] by mistake`);
  assert.not.ok(lines[0]!.includes(s.keys.b.slice(21)));
});

test('an admin key creates, lists and revokes keys of its own tenant only, and a new key is shown once', async () => {
  const admin = await s.key('acme', ['admin']);
  const made = await call(s, '/v1/keys', { key: admin.key, body: { name: 'web', scopes: ['runs:read'] } });
  assert.is(made.status, 201, made.text);
  assert.match(made.json.key, /^sck_/);
  assert.is((await call(s, '/v1/runs', { key: made.json.key })).status, 200);
  const listed = await call(s, '/v1/keys', { key: admin.key });
  const shown = listed.json.find((key: { keyId: string }) => key.keyId === made.json.keyId);
  assert.equal(Object.keys(shown).sort(), ['createdAt', 'keyId', 'name', 'scopes', 'tenantId']);
  assert.not.ok(listed.text.includes(made.json.key.slice(21)), 'the secret is never listed');
  const other = await s.key('globex', ['runs:read']);
  problem(await call(s, `/v1/keys/${other.keyId}`, { key: admin.key, method: 'DELETE' }), 404, 'key-not-found');
  assert.is((await call(s, '/v1/runs', { key: other.key })).status, 200, "another tenant's key still works");
});

test('health, readiness and the OpenAPI 3.1 document need no key; the document is made from the schemas', async () => {
  assert.equal((await call(s, '/healthz')).json, { status: 'ok' });
  assert.equal((await call(s, '/readyz')).json, { status: 'ok' });
  const doc = (await call(s, '/openapi.json')).json;
  assert.is(doc.openapi, '3.1.0');
  for (const path of ['/v1/runs', '/v1/runs/{runId}', '/v1/runs/{runId}/history', '/v1/runs/{runId}/state/{seq}', '/v1/runs/{runId}/fork', '/v1/runs/{runId}/cancel', '/v1/runs/{runId}/approvals/{callId}/approve', '/v1/runs/{runId}/approvals/{callId}/reject', '/v1/runs/{runId}/events']) {
    assert.ok(doc.paths[path], `${path} is documented`);
  }
  assert.equal(doc.components.schemas.CreateRun.required.sort(), ['agent', 'input']);
  assert.equal(doc.components.schemas.Approve.required.sort(), ['argsHash', 'by']);
  assert.ok(doc.paths['/v1/runs'].post.responses['401'].content['application/problem+json']);
  assert.equal(doc.components.securitySchemes.bearer, { type: 'http', scheme: 'bearer', description: 'An API key from `statecraft keys create`' });
  problem(await call(s, '/v2/nothing'), 404, 'no-route');
});

test('a second service on a port in use is refused, naming the fix', async () => {
  const port = Number(new URL(s.url).port);
  const second = await createServer({ agents: [defineAgent({ name: 'idle' })], store: s.store, port, log: () => {} });
  const error = await rejection(second.listen());
  await second.close();
  assert.instance(error, UserError);
  assert.match((error as Error).message, new RegExp(`Cannot listen on 127\\.0\\.0\\.1:${port}: it is in use\\. Pick another with --port`));
});

test.run();
