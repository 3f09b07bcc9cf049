// Rate limits and quotas over real HTTP: request rates shared by two instances on one PostgreSQL
// store, 429 with Retry-After, concurrent runs, a tokens-per-minute quota that stops a run before the
// model call that would pass it (the real openai client against the scripted server), /v1/usage, and
// tenants that do not share limits.
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { z } from 'zod';
import { createOpenAIModel, defineAgent, defineTool } from '../src/index.ts';
import { createApiKey } from '../src/service/auth/apiKeys.ts';
import { createServer, type CreateServerOptions } from '../src/service/createServer.ts';
import { openServiceStore } from '../src/service/store/openServiceStore.ts';
import type { Scope } from '../src/service/store/ServiceStore.ts';
import { startScriptedServer, type ScriptedServer, type ScriptRequest } from '../src/testing/index.ts';
import { call, until, type TestService } from './fixtures/service.ts';

const PG_URL = process.env.STATECRAFT_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** Gates the `hold` tool: a run calling it stays running until the test opens the gate. */
let opened: () => void = () => {};
let gate = new Promise<void>((resolve) => (opened = resolve));
const hold = defineTool({ name: 'hold', description: 'Wait.', parameters: z.object({}), execute: async () => (await gate, 'held') });

/** "hold" calls the gated tool, "look" calls it too and then answers; each answer reports 60 + 10 tokens. */
function answer(_index: number, request: ScriptRequest) {
  const input = request.messages.findLast((message) => message.role === 'user')?.content ?? '';
  const usage = { inputTokens: 60, outputTokens: 10 };
  if (request.messages.at(-1)?.role === 'tool') return { content: 'Done.', usage };
  if (input.startsWith('hold')) return { toolCalls: [{ id: 'call_hold', name: 'hold', arguments: {} }], usage };
  return { content: `Echo: ${input}`, usage };
}

interface Limited extends TestService {
  model: ScriptedServer;
}

async function startLimited(options: Partial<CreateServerOptions>, store?: string): Promise<Limited> {
  const model = await startScriptedServer(answer);
  const openai = createOpenAIModel({ baseURL: model.url, apiKey: 'test', model: 'gpt-4o-mini' });
  const agent = defineAgent({ name: 'support', instructions: 'Help.', tools: [hold], model: openai });
  const url = store ?? `sqlite:${join(mkdtempSync(join(tmpdir(), 'statecraft-limits-')), 'runs.db')}`;
  const logs: string[] = [];
  const server = await createServer({ agents: [agent], store: url, port: 0, log: (line) => logs.push(line), pollMs: 50, ...options });
  const address = await server.listen();
  const service = openServiceStore(url);
  const key = async (tenant: string, scopes: Scope[] = ['runs:create', 'runs:read']) => {
    const made = await createApiKey(service, { tenantId: tenant, scopes });
    return { key: made.key, keyId: made.record.keyId };
  };
  const keys = { a: (await key('acme')).key, b: (await key('globex')).key };
  return {
    url: address.url, model, store: url, logs, keys, key, server,
    close: async () => {
      await server.close();
      await service.close();
      await model.close();
    },
  };
}

const tooMany = (answer: { status: number; headers: Headers; json: any }, type: string) => {
  assert.is(answer.status, 429);
  assert.is(answer.headers.get('content-type'), 'application/problem+json');
  assert.is(answer.json.type, `https://statecraft.dev/problems/${type}`);
  const retryAfter = Number(answer.headers.get('retry-after'));
  assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, `Retry-After is whole seconds within the minute, found ${answer.headers.get('retry-after')}`);
};

test('two instances on one PostgreSQL store share a tenant\'s request rate; other tenants keep theirs', async () => {
  const schema = `lim_${randomBytes(6).toString('hex')}`;
  const store = `${PG_URL}?schema=${schema}`;
  const settings = { limits: { requestsPerMinute: 3, tenants: {} }, authFailures: { max: 2, windowMs: 60_000 } };
  const first = await startLimited(settings, store);
  const second = await startLimited(settings, store);
  try {
    for (let i = 0; i < 3; i++) assert.is((await call(first, '/v1/runs', { key: first.keys.a })).status, 200);
    // Another key of the same tenant, on the other instance: the tenant's allowance is used up.
    const refused = await call(second, '/v1/runs', { key: second.keys.a });
    tooMany(refused, 'rate-limited');
    assert.match(refused.json.detail, /Tenant "acme" made more than 3 requests within a minute \(requestsPerMinute/);
    assert.ok(second.logs.some((line) => line.includes('"rate.limited"')), 'the refusal is logged');
    assert.is((await call(first, '/v1/runs', { key: first.keys.a })).status, 429, 'and on the first instance too');
    // globex's keys on both instances have their own allowance.
    assert.is((await call(second, '/v1/runs', { key: second.keys.b })).status, 200);
    assert.is((await call(first, '/v1/runs', { key: first.keys.b })).status, 200);
    // Failed authentications are counted across instances too: two on the first, and the second refuses this client.
    for (let i = 0; i < 2; i++) assert.is((await call(first, '/v1/runs', { key: 'sk_guessed' })).status, 401);
    const blocked = await call(second, '/v1/runs', { key: second.keys.a });
    tooMany(blocked, 'too-many-failed-authentications');
  } finally {
    await first.close();
    await second.close();
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    await client.query(`DROP SCHEMA "${schema}" CASCADE`);
    await client.end();
  }
});

test('a key over its own rate is refused while another key of its tenant is not', async () => {
  const s = await startLimited({ limits: { keyRequestsPerMinute: 2, tenants: {} } });
  try {
    const other = await s.key('acme', ['runs:read']);
    assert.is((await call(s, '/v1/runs', { key: s.keys.a })).status, 200);
    assert.is((await call(s, '/v1/runs', { key: s.keys.a })).status, 200);
    const refused = await call(s, '/v1/runs', { key: s.keys.a });
    tooMany(refused, 'rate-limited');
    assert.match(refused.json.detail, /^API key \S+ made more than 2 requests within a minute \(keyRequestsPerMinute\)/);
    assert.is((await call(s, '/v1/runs', { key: other.key })).status, 200);
  } finally {
    await s.close();
  }
});

test('a tenant beyond its concurrent runs is refused with how many run; per-tenant overrides apply', async () => {
  gate = new Promise<void>((resolve) => (opened = resolve));
  const s = await startLimited({ limits: { concurrentRuns: 1, tenants: { globex: { concurrentRuns: 2 } } } });
  try {
    const started = await call(s, '/v1/runs', { key: s.keys.a, body: { agent: 'support', input: 'hold 1' } });
    assert.is(started.status, 201);
    await until(s, s.keys.a, started.json.runId, ['running']);
    const refused = await call(s, '/v1/runs', { key: s.keys.a, body: { agent: 'support', input: 'hold 2' } });
    tooMany(refused, 'too-many-runs');
    assert.match(refused.json.detail, /Tenant "acme" has 1 runs running, the most it may run at once \(concurrentRuns 1\)/);
    const usage = await call(s, '/v1/usage', { key: s.keys.a });
    assert.equal(usage.json.concurrentRuns, { used: 1, limit: 1, remaining: 0 });
    // globex may run two at once, whatever acme runs.
    const b1 = await call(s, '/v1/runs', { key: s.keys.b, body: { agent: 'support', input: 'hold 3' } });
    await until(s, s.keys.b, b1.json.runId, ['running']);
    assert.is((await call(s, '/v1/runs', { key: s.keys.b, body: { agent: 'support', input: 'hello' } })).status, 201);
    opened();
    await until(s, s.keys.a, started.json.runId, ['done']);
    assert.is((await call(s, '/v1/runs', { key: s.keys.a, body: { agent: 'support', input: 'hello' } })).status, 201, 'a slot is free once the run ended');
  } finally {
    opened();
    await s.close();
  }
});

test('runs started at the same moment on two instances of one PostgreSQL store never pass the concurrent-runs limit', async () => {
  gate = new Promise<void>((resolve) => (opened = resolve));
  const schema = `lim_${randomBytes(6).toString('hex')}`;
  const store = `${PG_URL}?schema=${schema}`;
  const settings = { limits: { concurrentRuns: 2, tenants: {} } };
  const first = await startLimited(settings, store);
  const second = await startLimited(settings, store);
  try {
    const body = { agent: 'support', input: 'hold on' };
    const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => call(i % 2 ? second : first, '/v1/runs', { key: (i % 2 ? second : first).keys.a, body })));
    assert.equal(answers.map((answer) => answer.status).sort(), [201, 201, 429, 429, 429, 429, 429, 429], 'two started, the others were refused');
    for (const refused of answers.filter((answer) => answer.status === 429)) tooMany(refused, 'too-many-runs');
    const listed = await call(first, '/v1/runs?status=created,queued,running', { key: first.keys.a });
    assert.is(listed.json.runs.length, 2, 'two runs of the tenant exist, not more');
  } finally {
    opened();
    await first.close();
    await second.close();
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    await client.query(`DROP SCHEMA "${schema}" CASCADE`);
    await client.end();
  }
});

test('runs started at the same moment on one embedded (SQLite) service never pass the concurrent-runs limit', async () => {
  gate = new Promise<void>((resolve) => (opened = resolve));
  const s = await startLimited({ limits: { concurrentRuns: 1, tenants: {} } });
  try {
    const answers = await Promise.all(Array.from({ length: 5 }, () => call(s, '/v1/runs', { key: s.keys.a, body: { agent: 'support', input: 'hold on' } })));
    assert.equal(answers.map((answer) => answer.status).sort(), [201, 429, 429, 429, 429]);
  } finally {
    opened();
    await s.close();
  }
});

test('a tokens-per-minute quota stops a run before the model call that would pass it, and /v1/usage reports it', async () => {
  gate = Promise.resolve();
  const s = await startLimited({ limits: { tokensPerMinute: 100, tenants: {} } });
  try {
    // The first call asks about 13 tokens and uses 70; the second (with the tool's result) asks about 31: 101 would pass 100.
    const started = await call(s, '/v1/runs', { key: s.keys.a, body: { agent: 'support', input: 'hold on' } });
    assert.is(started.status, 201);
    const run = await until(s, s.keys.a, started.json.runId, ['done', 'failed', 'halted']);
    assert.is(run.summary.status, 'failed');
    assert.match(run.summary.reason, /tenant "acme" used 70 of its 100 model tokens per minute \(tokensPerMinute\), and this call needs about \d+ more/);
    assert.match(run.summary.reason, /fork the run from its last record \(POST \/v1\/runs\/[\w-]+\/fork\)/);
    assert.is(s.model.requests.length, 1, 'the refused call was not sent');
    const history = await call(s, `/v1/runs/${started.json.runId}/history`, { key: s.keys.a });
    assert.ok(history.json.some((entry: any) => entry.eventType === 'xstate.done.actor.executeTools'), 'the tool ran before the refused call');
    const usage = await call(s, '/v1/usage', { key: s.keys.a });
    assert.is(usage.status, 200);
    assert.is(usage.json.tenant, 'acme');
    assert.equal([usage.json.tokensPerMinute.used, usage.json.tokensPerMinute.limit, usage.json.tokensPerMinute.remaining], [70, 100, 30]);
    assert.ok(usage.json.tokensPerMinute.resetsAt > new Date().toISOString(), 'the window ends in the future');
    assert.ok(s.logs.some((line) => line.includes('"quota.refused"')), 'the refusal is logged');
    // globex has a quota of its own.
    const other = await call(s, '/v1/runs', { key: s.keys.b, body: { agent: 'support', input: 'hello' } });
    assert.is((await until(s, s.keys.b, other.json.runId, ['done', 'failed'])).summary.status, 'done');
    const theirs = await call(s, '/v1/usage', { key: s.keys.b });
    assert.equal([theirs.json.tokensPerMinute.used, theirs.json.tokensPerMinute.remaining], [70, 30]);
    assert.is((await call(s, '/v1/usage', { key: s.keys.a })).json.tokensPerMinute.used, 70, "acme's count is its own");
  } finally {
    await s.close();
  }
});

test("a dollars-per-day quota stops the run at the next model call once the day's spend is reached", async () => {
  gate = Promise.resolve();
  // One answer of gpt-4o-mini (60 tokens in, 10 out) costs $0.000015, which reaches a $0.00001 day.
  const s = await startLimited({ limits: { usdPerDay: 0.00001, tenants: {} } });
  try {
    const started = await call(s, '/v1/runs', { key: s.keys.a, body: { agent: 'support', input: 'hold on' } });
    const run = await until(s, s.keys.a, started.json.runId, ['done', 'failed', 'halted']);
    assert.is(run.summary.status, 'failed');
    assert.match(run.summary.reason, /tenant "acme" spent \$0\.000015 of its \$0\.00001 per day \(usdPerDay\)/);
    assert.is(s.model.requests.length, 1, 'the second call was not sent');
    const usage = (await call(s, '/v1/usage', { key: s.keys.a })).json;
    assert.equal([usage.usdPerDay.used, usage.usdPerDay.limit, usage.usdPerDay.remaining], [0.000015, 0.00001, 0]);
    assert.ok(usage.usdPerDay.resetsAt.endsWith('T00:00:00.000Z'), `the day ends at midnight UTC, found ${usage.usdPerDay.resetsAt}`);
  } finally {
    await s.close();
  }
});

test('/v1/usage is in the OpenAPI document and needs a key', async () => {
  const s = await startLimited({ limits: { usdPerDay: 5, tenants: {} } });
  try {
    const document = (await call(s, '/openapi.json')).json;
    assert.ok(document.paths['/v1/usage']?.get, 'GET /v1/usage is documented');
    assert.ok(document.components.schemas.Usage, 'with its schema');
    assert.is((await call(s, '/v1/usage')).status, 401);
    const usage = await call(s, '/v1/usage', { key: s.keys.a });
    assert.equal(usage.json.usdPerDay.limit, 5);
    assert.equal(usage.json.usdPerDay.used, 0);
    assert.not.ok('limit' in usage.json.tokensPerMinute, 'an unset limit is not reported as one');
  } finally {
    await s.close();
  }
});


test("a window's end comes from the same reading of the clock as its time left, so a day ends exactly at midnight UTC", async () => {
  const { SharedLimits, utcDay } = await import('../src/service/limits/SharedLimits.ts');
  const url = join(mkdtempSync(join(tmpdir(), 'statecraft-limits-')), 'runs.db');
  const limits = await SharedLimits.open(url, { tenants: {} }, { windowMs: 60_000 });
  try {
    const lastMs = Date.UTC(2026, 11, 7, 23, 59, 59, 999);
    assert.equal(utcDay(lastMs), { day: '2026-12-07', msLeft: 1 });
    await limits.modelUsed('acme', 10, 0.5, lastMs);
    const spend = await limits.spendOf('acme', lastMs);
    assert.equal(spend, { used: 0.5, msLeft: 1, endsAt: Date.UTC(2026, 11, 8) });
    const tokens = await limits.tokensOf('acme');
    assert.is(tokens.used, 10);
    assert.ok(tokens.endsAt - Date.now() <= 60_000 && tokens.endsAt >= Date.now(), `the minute ends within a minute, found ${new Date(tokens.endsAt).toISOString()}`);
  } finally {
    await limits.close();
  }
});
test.run();
