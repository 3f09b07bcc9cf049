// The service's run API over real HTTP: two tenants, runs started, read, listed, forked, cancelled and
// decided, each tenant seeing only its own runs.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { call, ran, startService, until, type TestService } from './fixtures/service.ts';

const PG_URL = process.env.STATECRAFT_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

let s: TestService;
test.before(async () => {
  s = await startService();
});
test.after(async () => {
  await s.close();
});

const start = async (input: string, key = s.keys.a) => {
  const created = await call(s, '/v1/runs', { key, body: { agent: 'support', input } });
  assert.is(created.status, 201, created.text);
  return created.json.runId as string;
};

test('a run starts, is read back, and its history and state at a step are its own', async () => {
  const asked = s.model.requests.length;
  const created = await call(s, '/v1/runs', { key: s.keys.a, body: { agent: 'support', input: 'hello there', thread: 't-1' } });
  assert.is(created.status, 201);
  assert.is(created.headers.get('location'), `/v1/runs/${created.json.runId}`);
  const run = await until(s, s.keys.a, created.json.runId, ['done']);
  assert.is(run.agent.id, 'support');
  assert.is(run.thread, 't-1');
  assert.equal((await call(s, '/v1/runs?thread=t-1', { key: s.keys.a })).json.runs.map((r: { runId: string }) => r.runId), [run.runId]);
  assert.equal((await call(s, '/v1/runs?thread=t-1', { key: s.keys.b })).json.runs, [], "another tenant's thread of the same name is its own");
  assert.is(run.input, 'hello there');
  assert.not.ok('owner' in run.summary || 'agentModule' in run.summary, 'process details are not shown');
  assert.is(s.model.requests.length, asked + 1, 'the model was asked once, over HTTP');
  const history = await call(s, `/v1/runs/${run.runId}/history`, { key: s.keys.a });
  assert.equal(history.json.map((entry: { seq: number }) => entry.seq), [...Array(run.summary.lastSeq + 1).keys()]);
  const part = await call(s, `/v1/runs/${run.runId}/history?from=1&to=1`, { key: s.keys.a });
  assert.equal(part.json.map((entry: { seq: number }) => entry.seq), [1]);
  assert.is(part.json[0].eventType, history.json[1].eventType);
  const first = await call(s, `/v1/runs/${run.runId}/state/0`, { key: s.keys.a });
  const last = await call(s, `/v1/runs/${run.runId}/state/${run.summary.lastSeq}`, { key: s.keys.a });
  const texts = (state: any) => state.context.messages.map((message: { content: string }) => message.content);
  assert.not.ok(texts(first.json.state).includes('Echo: hello there'));
  assert.ok(texts(last.json.state).includes('Echo: hello there'));
  const beyond = await call(s, `/v1/runs/${run.runId}/state/${run.summary.lastSeq + 5}`, { key: s.keys.a });
  assert.is(beyond.status, 404);
  assert.is(beyond.headers.get('content-type'), 'application/problem+json');
});

test('listing filters by status and agent and pages with a cursor, within the tenant', async () => {
  const mine = [];
  for (let i = 0; i < 5; i++) mine.push(await start(`list ${i}`));
  const theirs = await start('theirs', s.keys.b);
  for (const id of mine) await until(s, s.keys.a, id, ['done']);
  const seen: string[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await call(s, `/v1/runs?limit=2${cursor ? `&cursor=${cursor}` : ''}`, { key: s.keys.a });
    assert.is(page.status, 200, page.text);
    assert.ok(page.json.runs.length <= 2);
    seen.push(...page.json.runs.map((run: { runId: string }) => run.runId));
    cursor = page.json.next;
    pages += 1;
  } while (cursor && pages < 50);
  assert.equal(seen.slice(0, 5), [...mine].reverse(), 'newest first');
  assert.is(new Set(seen).size, seen.length, 'no run on two pages');
  assert.not.ok(seen.includes(theirs));
  const done = await call(s, '/v1/runs?status=done&agent=support&limit=200', { key: s.keys.a });
  assert.ok(mine.every((id) => done.json.runs.some((run: { runId: string }) => run.runId === id)));
  assert.ok(done.json.runs.every((run: { status: string }) => run.status === 'done'));
  assert.equal((await call(s, '/v1/runs?agent=nobody', { key: s.keys.a })).json.runs, []);
  const bad = await call(s, '/v1/runs?status=finished', { key: s.keys.a });
  assert.is(bad.status, 400);
  assert.match(bad.json.detail, /Unknown run status "finished": use one of created, queued, running, waiting, done/);
  const badCursor = await call(s, '/v1/runs?cursor=nonsense', { key: s.keys.a });
  assert.is(badCursor.status, 400);
  assert.match(badCursor.json.detail, /not one this service gave/);
});

test('approving with the arguments hash runs the call once, and the log records the person and the key', async () => {
  const runId = await start('refund A1');
  await until(s, s.keys.a, runId, ['waiting']);
  const [pending] = (await call(s, `/v1/runs/${runId}/approvals`, { key: s.keys.a })).json;
  assert.is(pending.tool, 'refund');
  const wrong = await call(s, `/v1/runs/${runId}/approvals/${pending.callId}/approve`, { key: s.keys.a, body: { argsHash: 'ffffffffffffffff', by: 'alice' } });
  assert.is(wrong.status, 422);
  assert.match(wrong.json.detail, /names arguments hash ffffffffffffffff, but the call's arguments hash is/);
  assert.is((await call(s, `/v1/runs/${runId}`, { key: s.keys.a })).json.summary.status, 'waiting', 'nothing was decided');
  assert.not.ok(ran.includes('refund A1 25'));
  const approved = await call(s, `/v1/runs/${runId}/approvals/${pending.callId}/approve`, { key: s.keys.a, body: { argsHash: pending.argsHash, by: 'alice' } });
  assert.is(approved.status, 202, approved.text);
  const keyId = s.keys.a.slice(4, 20);
  assert.is(approved.json.by, `alice (key ${keyId})`);
  const run = await until(s, s.keys.a, runId, ['done', 'failed']);
  assert.is(run.summary.status, 'done');
  assert.equal(ran.filter((line) => line === 'refund A1 25'), ['refund A1 25']);
  const history = (await call(s, `/v1/runs/${runId}/history`, { key: s.keys.a })).json;
  const decision = history.find((entry: { eventType: string }) => entry.eventType === 'APPROVE');
  assert.is(decision.event.by, `alice (key ${keyId})`);
  assert.is(decision.event.argsHash, pending.argsHash);
  const again = await call(s, `/v1/runs/${runId}/approvals/${pending.callId}/approve`, { key: s.keys.a, body: { argsHash: pending.argsHash, by: 'alice' } });
  assert.is(again.status, 422);
  assert.match(again.json.detail, /no tool call waiting for approval \(its status is done\)/);
});

test('rejecting with the arguments hash tells the model the reason, and the tool never runs', async () => {
  const runId = await start('refund R1');
  await until(s, s.keys.a, runId, ['waiting']);
  const [pending] = (await call(s, `/v1/runs/${runId}/approvals`, { key: s.keys.a })).json;
  const missingReason = await call(s, `/v1/runs/${runId}/approvals/${pending.callId}/reject`, { key: s.keys.a, body: { argsHash: pending.argsHash, by: 'bob' } });
  assert.is(missingReason.status, 400);
  assert.equal(missingReason.json.issues.map((issue: { path: string }) => issue.path), ['reason']);
  const rejected = await call(s, `/v1/runs/${runId}/approvals/${pending.callId}/reject`, { key: s.keys.a, body: { argsHash: pending.argsHash, by: 'bob', reason: 'not today' } });
  assert.is(rejected.status, 202);
  const run = await until(s, s.keys.a, runId, ['done', 'failed']);
  const last = await call(s, `/v1/runs/${runId}/state/${run.summary.lastSeq}`, { key: s.keys.a });
  assert.ok(JSON.stringify(last.json.state.context.messages).includes('not today'));
  assert.not.ok(ran.some((line) => line.startsWith('refund R1')));
});

test('a fork continues from a record as a new run of the same tenant, listed under its parent', async () => {
  const parent = await start('look P1');
  const done = await until(s, s.keys.a, parent, ['done']);
  const history = (await call(s, `/v1/runs/${parent}/history`, { key: s.keys.a })).json;
  const before = history.find((entry: { eventType: string }) => entry.eventType === 'TOOL_STARTED').seq - 1;
  const lookups = ran.filter((line) => line === 'lookup P1').length;
  const fork = await call(s, `/v1/runs/${parent}/fork`, { key: s.keys.a, body: { seq: before } });
  assert.is(fork.status, 201, fork.text);
  const forked = await until(s, s.keys.a, fork.json.runId, ['done', 'failed']);
  assert.is(forked.summary.status, 'done');
  assert.equal(forked.parent, { runId: parent, seq: before });
  assert.is(ran.filter((line) => line === 'lookup P1').length, lookups + 1, 'the fork ran the call again');
  const children = await call(s, `/v1/runs?parent=${parent}`, { key: s.keys.a });
  assert.equal(children.json.runs.map((run: { runId: string }) => run.runId), [fork.json.runId]);
  const beyond = await call(s, `/v1/runs/${parent}/fork`, { key: s.keys.a, body: { seq: done.summary.lastSeq + 10 } });
  assert.is(beyond.status, 404);
  assert.match(beyond.json.detail, /has no record/);
});

test('cancel ends a waiting run as cancelled, and a second cancel is refused', async () => {
  const runId = await start('refund C1');
  await until(s, s.keys.a, runId, ['waiting']);
  const cancelled = await call(s, `/v1/runs/${runId}/cancel`, { key: s.keys.a, body: { reason: 'customer left' } });
  assert.is(cancelled.status, 200, cancelled.text);
  assert.is(cancelled.json.status, 'cancelled');
  const again = await call(s, `/v1/runs/${runId}/cancel`, { key: s.keys.a, method: 'POST' });
  assert.is(again.status, 422);
  assert.match(again.json.detail, /already ended \(cancelled\)/);
});

test("a key of another tenant gets 404 on every route of a run, worded as for an unknown id, and changes nothing", async () => {
  const runId = await start('refund X1');
  await until(s, s.keys.a, runId, ['waiting']);
  const [pending] = (await call(s, `/v1/runs/${runId}/approvals`, { key: s.keys.a })).json;
  const unknown = 'f0f0f0f0-0000-4000-8000-000000000000';
  const routes = (id: string) => [
    { path: `/v1/runs/${id}` },
    { path: `/v1/runs/${id}/history` },
    { path: `/v1/runs/${id}/state/0` },
    { path: `/v1/runs/${id}/approvals` },
    { path: `/v1/runs/${id}/events` },
    { path: `/v1/runs/${id}/fork`, body: { seq: 0 } },
    { path: `/v1/runs/${id}/cancel`, body: {} },
    { path: `/v1/runs/${id}/approvals/${pending.callId}/approve`, body: { argsHash: pending.argsHash, by: 'mallory' } },
    { path: `/v1/runs/${id}/approvals/${pending.callId}/reject`, body: { argsHash: pending.argsHash, by: 'mallory', reason: 'x' } },
  ];
  const theirs = routes(runId);
  const none = routes(unknown);
  for (let i = 0; i < theirs.length; i++) {
    const answer = await call(s, theirs[i]!.path, { key: s.keys.b, ...(theirs[i]!.body ? { body: theirs[i]!.body } : {}) });
    const other = await call(s, none[i]!.path, { key: s.keys.b, ...(none[i]!.body ? { body: none[i]!.body } : {}) });
    assert.is(answer.status, 404, theirs[i]!.path);
    assert.is(answer.json.detail.replace(runId, 'ID'), other.json.detail.replace(unknown, 'ID'), theirs[i]!.path);
  }
  const run = await call(s, `/v1/runs/${runId}`, { key: s.keys.a });
  assert.is(run.json.summary.status, 'waiting', 'still waiting, neither cancelled nor decided');
  assert.not.ok((await call(s, '/v1/runs?limit=200', { key: s.keys.b })).json.runs.some((r: { runId: string }) => r.runId === runId));
  assert.is((await call(s, `/v1/runs?parent=${runId}`, { key: s.keys.a })).json.runs.length, 0, 'no fork was made');
});

test('with separation of duties, the key that started a run cannot decide its calls; another key can', async () => {
  const strict = await startService({ separationOfDuties: true });
  try {
    const starter = await strict.key('acme', ['runs:create', 'runs:read', 'approvals:decide']);
    const approver = await strict.key('acme', ['approvals:decide']);
    const runId = (await call(strict, '/v1/runs', { key: starter.key, body: { agent: 'support', input: 'refund S1' } })).json.runId;
    await until(strict, starter.key, runId, ['waiting']);
    const [pending] = (await call(strict, `/v1/runs/${runId}/approvals`, { key: starter.key })).json;
    const own = await call(strict, `/v1/runs/${runId}/approvals/${pending.callId}/approve`, { key: starter.key, body: { argsHash: pending.argsHash, by: 'sam' } });
    assert.is(own.status, 403);
    assert.match(own.json.detail, new RegExp(`API key ${starter.keyId} started run ${runId}, and this service requires another key`));
    const other = await call(strict, `/v1/runs/${runId}/approvals/${pending.callId}/approve`, { key: approver.key, body: { argsHash: pending.argsHash, by: 'pat' } });
    assert.is(other.status, 202);
    assert.is((await until(strict, starter.key, runId, ['done', 'failed'])).summary.status, 'done');
  } finally {
    await strict.close();
  }
});

test('on PostgreSQL, runs start, are listed per tenant and are decided the same way', async () => {
  const schema = `svc_http_${randomBytes(5).toString('hex')}`;
  const onPg = await startService({}, `${PG_URL}?schema=${schema}`);
  try {
    const runId = (await call(onPg, '/v1/runs', { key: onPg.keys.a, body: { agent: 'support', input: 'refund PG1' } })).json.runId;
    await until(onPg, onPg.keys.a, runId, ['waiting']);
    assert.equal((await call(onPg, '/v1/runs?status=waiting', { key: onPg.keys.a })).json.runs.map((run: { runId: string }) => run.runId), [runId]);
    assert.equal((await call(onPg, '/v1/runs', { key: onPg.keys.b })).json.runs, []);
    assert.is((await call(onPg, `/v1/runs/${runId}`, { key: onPg.keys.b })).status, 404);
    const [pending] = (await call(onPg, `/v1/runs/${runId}/approvals`, { key: onPg.keys.a })).json;
    assert.is((await call(onPg, `/v1/runs/${runId}/approvals/${pending.callId}/approve`, { key: onPg.keys.a, body: { argsHash: pending.argsHash, by: 'pg' } })).status, 202);
    assert.is((await until(onPg, onPg.keys.a, runId, ['done', 'failed'])).summary.status, 'done');
  } finally {
    await onPg.close();
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await client.end();
  }
});

test.run();
