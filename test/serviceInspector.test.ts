// The inspector served by the service, over real HTTP: its page is public, its API needs an API key and
// shows each tenant its own runs only, its actions are the service's (scopes, separation of duties,
// arguments hash, the key recorded), and it answers its own page only. One Chromium check signs in.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { withPage } from './fixtures/browser.ts';
import { call, ran, startService, until, type TestService } from './fixtures/service.ts';

let s: TestService;
let starter: { key: string; keyId: string };
let approver: { key: string; keyId: string };
test.before(async () => {
  s = await startService({ separationOfDuties: true });
  starter = await s.key('acme', ['runs:create', 'runs:read', 'approvals:decide']);
  approver = await s.key('acme', ['runs:read', 'approvals:decide']);
});
test.after(async () => {
  await s.close();
});

const start = async (key: string, input: string) => {
  const created = await call(s, '/v1/runs', { key, body: { agent: 'support', input } });
  assert.is(created.status, 201, created.text);
  return created.json.runId as string;
};

const inspector = (path: string, options: Parameters<typeof call>[2] = {}) => call(s, `/inspector/api${path}`, options);

test('the page is served without a key, with its security headers; its API refuses a request without one (401)', async () => {
  const redirect = await fetch(`${s.url}/inspector`, { redirect: 'manual' });
  assert.is(redirect.status, 308);
  assert.is(redirect.headers.get('location'), '/inspector/');
  const page = await call(s, '/inspector/');
  assert.is(page.status, 200);
  assert.match(page.headers.get('content-type')!, /text\/html/);
  assert.match(page.headers.get('content-security-policy')!, /frame-ancestors 'none'/);
  assert.match(page.text, /<meta name="statecraft-auth" content="bearer">/);
  assert.match(page.text, /<meta name="statecraft-token" content="">/, 'no token or key in the page');
  assert.is((await call(s, '/inspector/app.js')).status, 200);
  assert.is((await call(s, '/inspector/nothing.js')).status, 404);
  for (const path of ['/config', '/runs', '/runs/any-run', '/runs/any-run/stream']) {
    const refused = await inspector(path);
    assert.is(refused.status, 401, path);
    assert.is(refused.headers.get('content-type'), 'application/problem+json');
    assert.match(refused.json.detail, /needs an API key/);
  }
  assert.is((await inspector('/runs/any-run/approve', { body: { callId: 'c' } })).status, 401);
  assert.is((await inspector('/config', { key: starter.key })).json.actions, true);
});

test("a key lists its tenant's runs only, and gets 404 for another tenant's run on every inspector endpoint", async () => {
  const mine = await start(starter.key, 'hello from acme');
  const theirs = await start(s.keys.b, 'refund G1');
  await until(s, s.keys.b, theirs, ['waiting']);
  await until(s, starter.key, mine, ['done']);
  const listed = await inspector('/runs', { key: starter.key });
  assert.is(listed.status, 200, listed.text);
  const ids = listed.json.map((run: { runId: string }) => run.runId);
  assert.ok(ids.includes(mine));
  assert.not.ok(ids.includes(theirs), "another tenant's run is not listed");
  assert.not.ok(listed.json.some((run: { owner?: unknown; agentModule?: unknown }) => run.owner || run.agentModule), 'no process or server path is shown');
  const own = await inspector(`/runs/${mine}`, { key: starter.key });
  assert.is(own.status, 200);
  assert.is(own.json.header.runId, mine);
  assert.is((await inspector(`/runs/${mine}/at/1`, { key: starter.key })).status, 200);

  const [pending] = (await call(s, `/v1/runs/${theirs}/approvals`, { key: s.keys.b })).json;
  const foreign: { path: string; body?: unknown }[] = [
    { path: `/runs/${theirs}` },
    { path: `/runs/${theirs}/at/1` },
    { path: `/runs/${theirs}/history` },
    { path: `/runs/${theirs}/records` },
    { path: `/runs/${theirs}/stream` },
    { path: `/runs/${theirs}/diagram.svg` },
    { path: `/runs/${theirs}/approve`, body: { callId: pending.callId, argsHash: pending.argsHash } },
    { path: `/runs/${theirs}/reject`, body: { callId: pending.callId, argsHash: pending.argsHash, reason: 'no' } },
    { path: `/runs/${theirs}/fork`, body: { seq: 0 } },
    { path: `/runs/${theirs}/cancel`, body: {} },
  ];
  for (const { path, body } of foreign) {
    const answer = await inspector(path, { key: starter.key, ...(body ? { body } : {}) });
    assert.is(answer.status, 404, `${path}: ${answer.text}`);
    assert.is(answer.json.detail, `No run "${theirs}" in your tenant: check the id, or list your runs with GET /v1/runs.`);
  }
  const logged = s.logs.map((line) => JSON.parse(line)).find((entry) => entry.msg === 'request' && entry.path === `/inspector/api/runs/${theirs}/history`);
  assert.is(logged.status, 404, 'the request log has the status the inspector answered');
  assert.is(logged.tenant, 'acme');
  const still = await call(s, `/v1/runs/${theirs}`, { key: s.keys.b });
  assert.is(still.json.summary.status, 'waiting', 'nothing was decided or cancelled');
  assert.is((await call(s, `/v1/runs?parent=${theirs}`, { key: s.keys.b })).json.runs.length, 0, 'nothing was forked');
});

test('approving through the inspector is the service decision: separation of duties, the arguments hash, the key recorded', async () => {
  const runId = await start(starter.key, 'refund I1');
  await until(s, starter.key, runId, ['waiting']);
  const [pending] = (await call(s, `/v1/runs/${runId}/approvals`, { key: starter.key })).json;
  const approve = (key: string, body: Record<string, unknown>) => inspector(`/runs/${runId}/approve`, { key, body: { callId: pending.callId, ...body } });
  const own = await approve(starter.key, { argsHash: pending.argsHash, by: 'Sam' });
  assert.is(own.status, 403);
  assert.match(own.json.detail, new RegExp(`API key ${starter.keyId} started run ${runId}, and this service requires another key`));
  const unhashed = await approve(approver.key, { by: 'Pat' });
  assert.is(unhashed.status, 400);
  assert.match(unhashed.json.detail, /must name the hash of the arguments it was shown \(argsHash\)/);
  const reader = await s.key('acme', ['runs:read']);
  assert.is((await approve(reader.key, { argsHash: pending.argsHash })).status, 403, 'approvals:decide is needed');
  assert.is((await inspector(`/runs/${runId}/fork`, { key: reader.key, body: { seq: 0 } })).status, 403, 'runs:create is needed to fork');
  assert.is((await inspector(`/runs/${runId}/cancel`, { key: reader.key, body: {} })).status, 403, 'runs:create is needed to cancel');

  const approved = await approve(approver.key, { argsHash: pending.argsHash, by: 'Pat' });
  assert.is(approved.status, 200, approved.text);
  assert.is((await until(s, starter.key, runId, ['done', 'failed'])).summary.status, 'done');
  assert.equal(ran.filter((line) => line === 'refund I1 25'), ['refund I1 25']);
  const history = (await call(s, `/v1/runs/${runId}/history`, { key: starter.key })).json;
  const decision = history.find((entry: { eventType: string }) => entry.eventType === 'APPROVE');
  assert.is(decision.event.by, `Pat (key ${approver.keyId})`);
  assert.ok(s.logs.some((line) => line.includes('"msg":"approval.approved"') && line.includes(approver.keyId) && line.includes(runId)));
});

test('fork and cancel through the inspector make and end runs of the same tenant, with the key', async () => {
  const runId = await start(starter.key, 'refund I2');
  await until(s, starter.key, runId, ['waiting']);
  const forked = await inspector(`/runs/${runId}/fork`, { key: starter.key, body: { seq: 0 } });
  assert.is(forked.status, 201, forked.text);
  const forkId = forked.json.runId;
  assert.is((await call(s, `/v1/runs/${forkId}`, { key: starter.key })).json.parent.runId, runId);
  assert.is((await call(s, `/v1/runs/${forkId}`, { key: s.keys.b })).status, 404, 'the fork is not the other tenant\'s');
  const cancelled = await inspector(`/runs/${runId}/cancel`, { key: starter.key, body: { reason: 'Not needed.' } });
  assert.is(cancelled.status, 200, cancelled.text);
  assert.is(cancelled.json.status, 'cancelled');
  assert.match((await call(s, `/v1/runs/${runId}`, { key: starter.key })).json.summary.reason, new RegExp(`Not needed\\. \\(key ${starter.keyId}\\)`));
});

test("the inspector's API answers its own page only: another origin is refused, reads and actions alike", async () => {
  const runId = await start(starter.key, 'refund I3');
  await until(s, starter.key, runId, ['waiting']);
  const evil = await inspector(`/runs/${runId}/cancel`, { key: starter.key, body: {}, headers: { origin: 'https://evil.example' } });
  assert.is(evil.status, 403);
  assert.match(evil.json.detail, /answers its own page only, and this POST came from https:\/\/evil\.example/);
  assert.is((await inspector('/runs', { key: starter.key, headers: { 'sec-fetch-site': 'cross-site' } })).status, 403);
  assert.is((await call(s, `/v1/runs/${runId}`, { key: starter.key })).json.summary.status, 'waiting');
  const own = await inspector('/runs', { key: starter.key, headers: { origin: s.url, 'sec-fetch-site': 'same-origin' } });
  assert.is(own.status, 200, 'its own origin passes though it is not in allowedOrigins');
  assert.is(own.headers.get('access-control-allow-origin'), null, 'and no CORS is granted');
});

test('in Chromium, the page served by the service signs in with a key and shows a run', async () => {
  const runId = await start(starter.key, 'hello from the browser');
  await until(s, starter.key, runId, ['done']);
  await withPage(async (page) => {
    await page.goto(`${s.url}/inspector/`);
    await page.locator('form.sign-in').waitFor();
    await page.fill('form.sign-in input[name="key"]', approver.key);
    await page.fill('form.sign-in input[name="person"]', 'Pat');
    await page.click('form.sign-in button[type="submit"]');
    const row = page.locator(`tr[data-run-id="${runId}"]`);
    await row.waitFor();
    await row.locator('a.run-link').click();
    await page.locator('.step').first().waitFor();
    assert.is(await page.evaluate('location.pathname'), '/inspector/');
    assert.ok((await page.textContent('#account'))?.includes('Pat'));
  });
});

test.run();
