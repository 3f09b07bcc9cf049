// GET /metrics in Prometheus' text format, scraped over real HTTP after runs: the counters move with
// the right labels (route templates, agents, tenants, limits), no run id is in any label, and the
// endpoint wants the metrics token, not an API key.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { call, startService, until, type TestService } from './fixtures/service.ts';

const TOKEN = 'metrics-token-for-tests-0123456789';

let s: TestService;
test.before(async () => {
  s = await startService({ metricsToken: TOKEN, limits: { tenants: { limited: { requestsPerMinute: 2 } } } });
});
test.after(async () => {
  await s.close();
});

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a text-format exposition; comment lines (# HELP, # TYPE) are checked for shape only. */
function parse(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('#')) {
      assert.match(line, /^# (HELP|TYPE) [a-zA-Z_:][\w:]* /);
      continue;
    }
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(match, `a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, name, value] of match[2]?.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g) ?? []) labels[name!] = value!;
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

const scrape = async (token = TOKEN) => {
  const answer = await call(s, '/metrics', { headers: { authorization: `Bearer ${token}` } });
  assert.is(answer.status, 200, answer.text);
  assert.match(answer.headers.get('content-type')!, /^text\/plain; version=0\.0\.4/);
  return parse(answer.text);
};

const value = (samples: Sample[], name: string, labels: Record<string, string> = {}) =>
  samples.filter((sample) => sample.name === name && Object.entries(labels).every(([key, wanted]) => sample.labels[key] === wanted)).reduce((sum, sample) => sum + sample.value, 0);

test('/metrics refuses a request without the metrics token, with a wrong one, and with an API key', async () => {
  const tries: Record<string, string>[] = [{}, { authorization: 'Bearer not-the-metrics-token-at-all' }, { authorization: `Bearer ${s.keys.a}` }];
  for (const headers of tries) {
    const refused = await call(s, '/metrics', { headers });
    assert.is(refused.status, 401);
    assert.is(refused.headers.get('content-type'), 'application/problem+json');
    assert.match(refused.json.detail, /needs the service's metrics token/);
  }
});

test('after runs, requests, runs, tokens, waiting approvals, open streams and refusals are counted with their labels, and no run id is a label', async () => {
  const before = await scrape();
  const startedBefore = value(before, 'statecraft_runs_started_total', { agent: 'support' });
  const done = (await call(s, '/v1/runs', { key: s.keys.a, body: { agent: 'support', input: 'look M1' } })).json.runId;
  const waiting = (await call(s, '/v1/runs', { key: s.keys.b, body: { agent: 'support', input: 'refund M2' } })).json.runId;
  await until(s, s.keys.a, done, ['done']);
  await until(s, s.keys.b, waiting, ['waiting']);
  assert.is((await call(s, `/v1/runs/${done}`, { key: s.keys.a })).status, 200);
  assert.is((await call(s, `/v1/runs/${waiting}`, { key: s.keys.a })).status, 404);
  assert.is((await call(s, `/inspector/api/runs/${done}`, { key: s.keys.a })).status, 200);
  const limited = await s.key('limited', ['runs:read']);
  const statuses = [];
  for (let i = 0; i < 3; i++) statuses.push((await call(s, '/v1/runs', { key: limited.key })).status);
  assert.equal(statuses, [200, 200, 429]);

  // A stream held open while scraping.
  const controller = new AbortController();
  const stream = await fetch(`${s.url}/v1/runs/${waiting}/events`, { headers: { authorization: `Bearer ${s.keys.b}` }, signal: controller.signal });
  const reader = stream.body!.getReader();
  await reader.read();
  let samples = await scrape();
  assert.ok(value(samples, 'statecraft_streams_open') >= 1, 'the open stream is counted');
  controller.abort();
  await reader.cancel().catch(() => {});

  // The end of a run reaches the metrics as the run's last event, just after its status is stored.
  for (let i = 0; i < 100 && value(samples, 'statecraft_runs_ended_total', { agent: 'support', status: 'done' }) < 1; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    samples = await scrape();
  }
  assert.is(value(samples, 'statecraft_runs_started_total', { agent: 'support' }) - startedBefore, 2);
  assert.ok(value(samples, 'statecraft_runs_ended_total', { agent: 'support', status: 'done' }) >= 1);
  assert.is(value(samples, 'statecraft_approvals_waiting', { agent: 'support' }), 1);
  assert.ok(value(samples, 'statecraft_model_tokens_total', { tenant: 'acme', kind: 'input' }) > 0);
  assert.ok(value(samples, 'statecraft_model_tokens_total', { tenant: 'acme', kind: 'output' }) > 0);
  assert.ok(samples.some((sample) => sample.name === 'statecraft_model_cost_usd_total' && sample.labels.tenant === 'globex'));
  assert.ok(samples.some((sample) => sample.name === 'statecraft_runs_in_flight'));
  assert.is(value(samples, 'statecraft_rate_limit_refusals_total', { limit: 'requestsPerMinute', tenant: 'limited' }), 1);

  assert.is(value(samples, 'statecraft_http_requests_total', { method: 'POST', route: '/v1/runs', status: '201' }), 2);
  assert.ok(value(samples, 'statecraft_http_requests_total', { method: 'GET', route: '/v1/runs/:runId', status: '200' }) >= 3);
  assert.is(value(samples, 'statecraft_http_requests_total', { method: 'GET', route: '/v1/runs/:runId', status: '404' }), 1);
  assert.is(value(samples, 'statecraft_http_requests_total', { method: 'GET', route: '/inspector/api/runs/:runId', status: '200' }), 1);
  assert.is(value(samples, 'statecraft_http_requests_total', { method: 'GET', route: '/v1/runs', status: '429' }), 1);
  assert.is(value(samples, 'statecraft_http_requests_total', { route: '/metrics', status: '401' }), 3);
  assert.ok(value(samples, 'statecraft_http_request_duration_seconds_count', { method: 'POST', route: '/v1/runs', status: '201' }) === 2);
  assert.ok(samples.some((sample) => sample.name === 'process_cpu_user_seconds_total'), 'Node process metrics');
  assert.ok(samples.some((sample) => sample.name === 'nodejs_heap_size_total_bytes'));

  const runIds = new Set([done, waiting]);
  const leaking = samples.filter((sample) => Object.values(sample.labels).some((label) => [...runIds].some((id) => label.includes(id))));
  assert.equal(leaking, [], 'no label holds a run id');
  const routes = new Set(samples.filter((sample) => sample.name === 'statecraft_http_requests_total').map((sample) => sample.labels.route));
  assert.ok([...routes].every((route) => route === 'unmatched' || route!.startsWith('/')), [...routes].join(', '));
});

test('a request to no route is counted as unmatched, not by its path', async () => {
  assert.is((await call(s, '/nothing/here-123')).status, 404);
  const samples = await scrape();
  assert.ok(value(samples, 'statecraft_http_requests_total', { route: 'unmatched', status: '404' }) >= 1);
  assert.not.ok(samples.some((sample) => Object.values(sample.labels).some((label) => label.includes('here-123'))));
});

test('without a metrics token there is no /metrics', async () => {
  const plain = await startService();
  try {
    assert.is((await call(plain, '/metrics', { headers: { authorization: `Bearer ${TOKEN}` } })).status, 404);
  } finally {
    await plain.close();
  }
});

test.run();
