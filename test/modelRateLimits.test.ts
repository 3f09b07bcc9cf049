// Model rate limits shared by a fleet: two limit instances on one PostgreSQL schema stand for two
// workers. The real openai client calls the scripted server, which notes when each request arrived;
// the assertions are on those arrivals (how many, and which came after a block began), never on how
// long the test took.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  CancelledError,
  createOpenAIModel,
  defineAgent,
  modelEndpoint,
  ModelRateLimitError,
  openModelLimits,
  PostgresStore,
  startRun,
  type ModelLimitWait,
  type Run,
} from '../src/index.ts';
import { delay } from '../src/delay.ts';
import { BACKOFF, nextBlock } from '../src/rateLimits/limitBackends.ts';
import { startScriptedServer, type ScriptRequest, type ScriptStep } from '../src/testing/index.ts';
import { submitRun } from '../src/worker/submitRun.ts';
import { dropSchema, freshSchema, PG_URL, storeUrl } from './fixtures/workers/helpers.ts';

const schema = freshSchema('sc_ratelimits');
const url = storeUrl(schema);
const store = new PostgresStore({ connectionString: PG_URL, schema });
const dir = mkdtempSync(join(tmpdir(), 'statecraft-ratelimits-'));

/** Each request's arrival (Date.now() at the server) and model; what it is answered is `answer`'s. */
const arrivals: { at: number; model: string }[] = [];
let answer: (model: string, nth: number, request: ScriptRequest) => ScriptStep = () => ({ content: 'done' });
const scripted = await startScriptedServer((_index, request) => {
  // The request being answered is the last one received: the server notes it before asking the script.
  const model = String(scripted.requests.at(-1)?.body['model'] ?? '');
  arrivals.push({ at: Date.now(), model });
  return answer(model, arrivals.filter((arrival) => arrival.model === model).length - 1, request);
});

const agentOn = (model: string) =>
  defineAgent({
    name: `limited-${model}`,
    instructions: 'Answer.',
    model: createOpenAIModel({ baseURL: scripted.url, apiKey: 'test', model, stream: false, retry: { maxRetries: 3 } }),
  });
const endpointOf = (model: string) => modelEndpoint({ provider: 'openai-compatible', model, params: { endpoint: scripted.url } });
const arrivalsOf = (model: string) => arrivals.filter((arrival) => arrival.model === model);

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`never happened within ${timeoutMs} ms: ${what}`);
    await delay(20);
  }
}

test('the endpoint key is the model and the base URL, without credentials or query', () => {
  assert.is(modelEndpoint({ provider: 'openai', model: 'gpt-4o-mini', params: {} }), 'gpt-4o-mini@https://api.openai.com/v1');
  const port = createOpenAIModel({ baseURL: 'http://user:secret@127.0.0.1:9/v1/?key=k', apiKey: 'sk-secret', model: 'm' });
  assert.is(modelEndpoint(port.info), 'm@http://127.0.0.1:9/v1');
});

test('requests per minute are counted across both instances: the server never gets more than the limit in the window, and the calls over it wait', async () => {
  const model = 'rpm-shared';
  const waits: ModelLimitWait[] = [];
  const a = await openModelLimits({ requestsPerMinute: 3, onWait: (wait) => void waits.push(wait) }, store);
  const b = await openModelLimits({ requestsPerMinute: 3, onWait: (wait) => void waits.push(wait) }, url);
  const agent = agentOn(model);
  const runs: Run[] = [];
  const ended: (string | undefined)[] = [];
  for (let i = 0; i < 6; i++) {
    const run = startRun(agent, { input: `task ${i}`, modelLimits: i % 2 === 0 ? a : b });
    void run.result.then((result) => (ended[i] = result.status));
    runs.push(run);
  }
  const done = () => ended.filter((status) => status === 'done').length;
  await until('three calls waiting and three runs done', () => waits.length === 3 && done() === 3);
  assert.is(ended.filter((status) => status !== undefined).length, 3, 'the other three still wait');
  assert.ok(waits.every((wait) => wait.reason === 'requestsPerMinute' && wait.endpoint === endpointOf(model) && wait.delayMs <= 60_000), JSON.stringify(waits));
  assert.is(arrivalsOf(model).length, 3, 'no request over the limit reached the server');

  // Cancelling a run that waits ends its wait: the run is cancelled and sends nothing.
  const waiting = runs.filter((_run, i) => ended[i] === undefined);
  for (const run of waiting) run.cancel('enough');
  const results = await Promise.all(waiting.map((run) => run.result));
  assert.equal(results.map((result) => result.status), ['cancelled', 'cancelled', 'cancelled']);
  assert.is(arrivalsOf(model).length, 3);
  await Promise.all([a.close(), b.close()]);
});

test('a 429 with Retry-After: 2 received by one instance makes the other wait until the block ends, and its run records the wait', async () => {
  const model = 'blocked-shared';
  answer = (asked, nth) => (asked === model && nth === 0 ? { error: { status: 429, message: 'Rate limit reached', headers: { 'retry-after': '2' } } } : { content: 'done' });
  const waits: ModelLimitWait[] = [];
  const a = await openModelLimits({}, store);
  const b = await openModelLimits({ onWait: (wait) => void waits.push(wait) }, url);
  const agent = agentOn(model);
  const first = startRun(agent, { input: 'first', modelLimits: a, store });
  await until('the block is recorded', async () => (await b.blockedMs(endpointOf(model))) > 0);
  const blockedAt = arrivalsOf(model)[0]!.at;
  const second = startRun(agent, { input: 'second', modelLimits: b, store });
  const [one, two] = await Promise.all([first.result, second.result]);
  assert.is(one.status, 'done');
  assert.is(two.status, 'done');
  const [rateLimited, ...after] = arrivalsOf(model);
  assert.is(after.length, 2, 'the first run asked again, the second asked once');
  // The block began after the 429's request arrived and lasts 2 s by the database's clock: nothing arrived inside it.
  assert.ok(after.every((arrival) => arrival.at >= rateLimited!.at + 2_000), JSON.stringify({ blockedAt, after }));
  assert.ok(waits.length > 0 && waits.every((wait) => wait.reason === 'blocked'), JSON.stringify(waits));
  assert.ok(waits[0]!.delayMs > 0 && waits[0]!.delayMs <= 2_100, JSON.stringify(waits));

  // The second run's record of its model answer says how long it waited, in its event and its meta.
  const records = await store.read(second.runId);
  const answered = records.find((record) => record.event.type.startsWith('xstate.done.actor') && record.meta?.model !== undefined);
  const waited = (answered?.meta as { waitedMs?: number } | undefined)?.waitedMs;
  assert.ok(typeof waited === 'number' && waited > 0, JSON.stringify(answered?.meta));
  assert.is((answered!.event as { output?: { waitedMs?: number } }).output?.waitedMs, waited);
  await Promise.all([a.close(), b.close()]);
  answer = () => ({ content: 'done' });
});

test('a call that would wait past maxWaitMs fails at once with an error naming the endpoint, the limit and what to raise', async () => {
  const model = 'capped';
  const limits = await openModelLimits({ requestsPerMinute: 1, maxWaitMs: 1_000 });
  const agent = agentOn(model);
  assert.is((await startRun(agent, { input: 'one', modelLimits: limits }).result).status, 'done');
  const refused = await startRun(agent, { input: 'two', modelLimits: limits }).result;
  assert.is(refused.status, 'failed');
  assert.match(refused.detail ?? '', `Model call to ${endpointOf(model)} would wait`);
  assert.match(refused.detail ?? '', '1 requests per minute (requestsPerMinute)');
  assert.match(refused.detail ?? '', 'raise maxWaitMs');
  assert.is(arrivalsOf(model).length, 1);
});

test('tokens per minute are estimated before the call and corrected to the reported usage after it', async () => {
  const limits = await openModelLimits({ tokensPerMinute: 1_000, maxWaitMs: 0 });
  const info = { provider: 'openai-compatible', model: 'tpm', params: { endpoint: 'http://127.0.0.1:9/v1' } };
  const messages = [{ role: 'user' as const, content: 'x'.repeat(800) }];
  const call = await limits.acquire(info, messages);
  // Reported: far more than the estimate (about 200), so the next call no longer fits this minute.
  await call.settle({ inputTokens: 700, outputTokens: 200 });
  const refused = await limits.acquire(info, messages).then(() => undefined, (error: unknown) => error);
  assert.instance(refused, ModelRateLimitError);
  assert.match((refused as Error).message, '1000 tokens per minute (tokensPerMinute)');
  const huge = await limits.acquire(info, [{ role: 'user', content: 'y'.repeat(10_000) }]).then(() => undefined, (error: unknown) => error);
  assert.match((huge as Error).message, 'no minute could hold it');
});

test('waiting for the limits ends when the signal aborts, with CancelledError', async () => {
  const limits = await openModelLimits({ requestsPerMinute: 1 });
  const info = { provider: 'openai-compatible', model: 'abort', params: { endpoint: 'http://127.0.0.1:9/v1' } };
  await limits.acquire(info, []);
  const controller = new AbortController();
  const waiting = limits.acquire(info, [], controller.signal).then(() => undefined, (error: unknown) => error);
  await delay(50);
  controller.abort();
  assert.instance(await waiting, CancelledError);
});

test('on one SQLite file, two instances share the counts and the blocks', async () => {
  const file = join(dir, 'limits.db');
  const a = await openModelLimits({ requestsPerMinute: 1, maxWaitMs: 0 }, file);
  const b = await openModelLimits({ requestsPerMinute: 1, maxWaitMs: 0 }, `sqlite:${file}`);
  const info = { provider: 'openai-compatible', model: 'lite', params: { endpoint: 'http://127.0.0.1:9/v1' } };
  const call = await a.acquire(info, []);
  const refused = await b.acquire(info, []).then(() => undefined, (error: unknown) => error);
  assert.instance(refused, ModelRateLimitError);
  await call.pacing.rateLimited(5_000);
  const left = await b.blockedMs(modelEndpoint(info));
  assert.ok(left > 4_000 && left <= 5_000, String(left));
  await Promise.all([a.close(), b.close()]);
});

test('a 429 without Retry-After blocks for a back-off that doubles with each block in a row, but not for 429s of calls sent during a block', () => {
  const first = nextBlock(undefined, 0, undefined);
  assert.equal(first, { until: BACKOFF.baseMs, strikes: 1 });
  const during = nextBlock(first, 10, undefined);
  assert.is(during.strikes, 1);
  const second = nextBlock(first, first.until + 1, undefined);
  assert.equal(second, { until: first.until + 1 + 2 * BACKOFF.baseMs, strikes: 2 });
  const asked = nextBlock(second, second.until + 1, 7_000);
  assert.is(asked.until, second.until + 1 + 7_000);
  const later = nextBlock(second, second.until + BACKOFF.memoryMs + 1, undefined);
  assert.is(later.strikes, 1);
});

test('a run without modelLimits records no wait', async () => {
  const run = startRun(agentOn('unlimited'), { input: 'go', store });
  assert.is((await run.result).status, 'done');
  const records = await store.read(run.runId);
  assert.ok(records.every((record) => (record.meta as { waitedMs?: unknown } | undefined)?.waitedMs === undefined));
});

test('two worker processes started with --model-rpm 3 send the endpoint 3 requests in its minute between them, and both wait', async () => {
  process.env.MODEL_URL = scripted.url;
  const { agent, reply } = await import('./fixtures/workers/agent.ts');
  answer = (model, _nth, request) => (model === 'scripted' ? reply(request, 10) : { content: 'done' });
  for (let i = 0; i < 4; i++) await submitRun(agent, `fleet ${i}`, { store });
  const root = resolve(import.meta.dirname, '..');
  const workers = [0, 1].map(() => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'src/cli/main.ts', 'worker', '--agents', 'test/fixtures/workers/agent.ts', '--store', url, '--concurrency', '2', '--poll', '100ms', '--grace', '1s', '--model-rpm', '3', '--json'],
      { cwd: root, env: { ...process.env, MODEL_URL: scripted.url, TOOL_MS: '5', NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const entry = { child, out: '', exited: new Promise<void>((done) => child.on('exit', () => done())) };
    child.stdout.on('data', (chunk) => (entry.out += chunk));
    child.stderr.on('data', (chunk) => (entry.out += chunk));
    return entry;
  });
  const waitsOf = (out: string) => out.split('\n').filter((line) => line.includes('"model.waiting"')).map((line) => JSON.parse(line) as ModelLimitWait & { type: string });
  try {
    await until('both workers wait for the shared limit', () => workers.every((worker) => waitsOf(worker.out).length > 0), 60_000);
    assert.is(arrivalsOf('scripted').length, 3, workers.map((worker) => worker.out).join('\n'));
    for (const worker of workers) {
      const [wait] = waitsOf(worker.out);
      assert.is(wait!.endpoint, endpointOf('scripted'));
      assert.is(wait!.reason, 'requestsPerMinute');
    }
    await delay(300);
    assert.is(arrivalsOf('scripted').length, 3, 'still none past the limit');
  } finally {
    for (const worker of workers) worker.child.kill('SIGTERM');
    await Promise.all(workers.map((worker) => worker.exited));
  }
});

test('close', async () => {
  await scripted.close();
  await store.close();
  await dropSchema(schema);
  rmSync(dir, { recursive: true, force: true });
});

test.run();
