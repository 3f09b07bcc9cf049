import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PostgresStore, queueDepth, type QueueDepth } from '../src/index.ts';
import { ageText, queueTable } from '../src/cli/queueCommand.ts';
import { delay } from '../src/delay.ts';
import { startScriptedServer } from '../src/testing/index.ts';
import { startWorker } from '../src/worker/startWorker.ts';
import { submitRun } from '../src/worker/submitRun.ts';
import type { Worker } from '../src/worker/Worker.ts';
import type { WorkerEvent } from '../src/worker/workerOptions.ts';
import { dropSchema, freshSchema, storeUrl, summariesWhen } from './fixtures/workers/helpers.ts';

// Fairness of the workers' queue: priorities, the oldest first within one, and concurrency limits
// across workers counted in the database. Each test has a fresh schema of the local PostgreSQL; the
// model is the scripted server, which answers a task named "slow …" after a while, others at once.

const root = resolve(import.meta.dirname, '..');
const server = await startScriptedServer((_index, request) => {
  const task = String(request.messages.find((message) => message.role === 'user')?.content ?? '');
  return reply(request, task.startsWith('slow') ? 1_500 : task.startsWith('paced') ? 120 : 10);
});
process.env.MODEL_URL = server.url;
const { agent, approvingAgent, reply } = await import('./fixtures/workers/agent.ts');
const exec = promisify(execFile);
const schemas: string[] = [];
const stores: PostgresStore[] = [];

function freshStore(): { store: PostgresStore; url: string; schema: string } {
  const schema = freshSchema('sc_fair');
  schemas.push(schema);
  const url = storeUrl(schema);
  const store = new PostgresStore({ connectionString: url.split('?')[0]!, schema });
  stores.push(store);
  return { store, url, schema };
}

const statecraft = (args: string[]) =>
  exec(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: root, env: { ...process.env, NO_COLOR: '1' }, timeout: 60_000 }).then(
    ({ stdout, stderr }) => ({ code: 0 as number | null, out: stdout, err: stderr }),
    (error: { code: number | null; stdout: string; stderr: string }) => ({ code: error.code, out: error.stdout, err: error.stderr }),
  );

const takenOrder = (events: WorkerEvent[]) => events.flatMap((event) => (event.type === 'run.taken' ? [event.runId] : []));

/** Runs the queued runs with one worker of concurrency 1, to their end, and returns the order it took them in. */
async function orderTaken(store: PostgresStore, runIds: string[]): Promise<string[]> {
  const events: WorkerEvent[] = [];
  const worker = await startWorker({ store, agents: [agent], concurrency: 1, pollMs: 20, onEvent: (event) => events.push(event) });
  await summariesWhen(store, runIds, (summary) => summary.status === 'done', 30_000);
  await worker.stop();
  return takenOrder(events);
}

/**
 * Records, at every take of a lease (an update that raises the epoch and sets an owner), how many live
 * leases its queue and its tenant have then, as the taking transaction sees them: what a limit must cap.
 */
async function auditTakes(store: PostgresStore, schema: string): Promise<() => Promise<{ queueMax: number; tenantMax: Map<string, number>; takes: number }>> {
  const s = `"${schema}"`;
  const db = store.executor();
  await db.executeSql(`CREATE TABLE ${s}.lease_audit (run_id text, tenant text, queue_live int, tenant_live int)`);
  await db.executeSql(`CREATE FUNCTION ${s}.audit_take() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
      INSERT INTO ${s}.lease_audit SELECT NEW.run_id, NEW.tenant,
        (SELECT count(*) FROM ${s}.run_leases WHERE queue = NEW.queue AND owner IS NOT NULL AND expires_at > now()),
        (SELECT count(*) FROM ${s}.run_leases WHERE tenant = NEW.tenant AND owner IS NOT NULL AND expires_at > now());
      RETURN NEW; END $$`);
  await db.executeSql(`CREATE TRIGGER audit_take AFTER UPDATE ON ${s}.run_leases FOR EACH ROW WHEN (NEW.epoch > OLD.epoch AND NEW.owner IS NOT NULL) EXECUTE FUNCTION ${s}.audit_take()`);
  return async () => {
    const { rows } = await db.executeSql(`SELECT tenant, max(queue_live)::int AS q, max(tenant_live)::int AS t, count(*)::int AS n FROM ${s}.lease_audit GROUP BY tenant`);
    const tenantMax = new Map<string, number>();
    for (const row of rows as { tenant: string | null; t: number }[]) if (row.tenant !== null) tenantMax.set(row.tenant, row.t);
    return { queueMax: Math.max(0, ...rows.map((row: { q: number }) => row.q)), tenantMax, takes: rows.reduce((sum: number, row: { n: number }) => sum + row.n, 0) };
  };
}

/** Samples the live leases of the store every few milliseconds until stopped; returns the largest count seen per tenant (and `all`). */
function sampleLeases(store: PostgresStore, schema: string): () => Promise<Map<string, number>> {
  const seen = new Map<string, number>();
  let sampling = true;
  const loop = (async () => {
    while (sampling) {
      const { rows } = await store.executor().executeSql(`SELECT coalesce(tenant, 'none') AS tenant, count(*)::int AS n FROM "${schema}".run_leases WHERE owner IS NOT NULL AND expires_at > now() GROUP BY 1`);
      let all = 0;
      for (const row of rows as { tenant: string; n: number }[]) {
        seen.set(row.tenant, Math.max(seen.get(row.tenant) ?? 0, row.n));
        all += row.n;
      }
      seen.set('all', Math.max(seen.get('all') ?? 0, all));
      await delay(10);
    }
  })();
  return async () => {
    sampling = false;
    await loop;
    return seen;
  };
}

test('the queue table writes thousands with separators, ages in words, and the runs queued at each priority', () => {
  const depth: QueueDepth = {
    queue: 'statecraft/support@1', agent: 'support', version: '1', queued: 1_234_567, byPriority: [{ priority: 10, queued: 1_200 }, { priority: 0, queued: 1_233_367 }],
    running: 20, waiting: 4_321, oldestQueuedMs: 192_000, tickets: { ready: 0, scheduled: 0, taken: 0 },
  };
  const lines = queueTable([depth, { ...depth, queue: 'statecraft/billing@2', agent: 'billing', version: '2', queued: 0, byPriority: [], running: 0, waiting: 0, oldestQueuedMs: null }]).split('\n');
  assert.match(lines[0]!, /^QUEUE\s+QUEUED\s+RUNNING\s+WAITING\s+OLDEST QUEUED\s+QUEUED BY PRIORITY$/);
  assert.match(lines[1]!, /^support@1\s+1,234,567\s+20\s+4,321\s+3 min 12 s\s+1,200 at 10, 1,233,367 at 0$/);
  assert.match(lines[2]!, /^billing@2\s+0\s+0\s+0\s+-$/);
  assert.is(lines[1]!.indexOf('1,234,567') + '1,234,567'.length, lines[2]!.indexOf(' 0 ') + 2, 'numbers are right-aligned');
  assert.is(ageText(45_900), '45 s');
  assert.is(ageText(2 * 3_600_000 + 5 * 60_000), '2 h 5 min');
  assert.is(ageText(1_234 * 86_400_000), '1,234 d 0 h');
});

test('statecraft queue shows runs queued by priority, running, waiting and the oldest age; --json gives the same as queueDepth', async () => {
  const { store, url } = freshStore();
  const empty = await statecraft(['queue', '--store', url]);
  assert.is(empty.code, 0, empty.err);
  assert.match(empty.out, 'No queue in this store yet');
  // A run of version 2 that waits for approval, holding no worker.
  const { runId: waiting } = await submitRun(approvingAgent, 'task that waits', { store });
  const worker = await startWorker({ store, agents: [approvingAgent], pollMs: 20 });
  await summariesWhen(store, [waiting], (summary) => summary.status === 'waiting', 20_000);
  await worker.stop();
  const queued: string[] = [];
  for (const priority of [0, 0, 0, 5, 5]) queued.push((await submitRun(agent, `queued at ${priority}`, { store, priority })).runId);
  // One of them held by a lease, as a worker holds a run it is running (its ticket, not taken here, stays ready).
  const held = await store.leases().acquire(queued[0]!, 'test-owner', 60_000);
  assert.ok(held);
  const [version1, version2] = await queueDepth(store);
  assert.equal({ ...version1!, oldestQueuedMs: 0 }, {
    queue: 'statecraft/fleet-agent@1', agent: 'fleet-agent', version: '1', queued: 4, byPriority: [{ priority: 5, queued: 2 }, { priority: 0, queued: 2 }],
    running: 1, waiting: 0, oldestQueuedMs: 0, tickets: { ready: 5, scheduled: 0, taken: 0 },
  });
  assert.ok(version1!.oldestQueuedMs! >= 0 && version1!.oldestQueuedMs! < 60_000, String(version1!.oldestQueuedMs));
  assert.equal({ queued: version2!.queued, running: version2!.running, waiting: version2!.waiting, oldestQueuedMs: version2!.oldestQueuedMs }, { queued: 0, running: 0, waiting: 1, oldestQueuedMs: null });
  const json = await statecraft(['queue', '--store', url, '--json']);
  assert.is(json.code, 0, json.err);
  const printed = JSON.parse(json.out) as QueueDepth[];
  assert.equal(printed.map((depth) => ({ ...depth, oldestQueuedMs: 0 })), [{ ...version1!, oldestQueuedMs: 0 }, { ...version2!, oldestQueuedMs: 0 }]);
  const text = await statecraft(['queue', '--store', url]);
  assert.is(text.code, 0, text.err);
  assert.match(text.out, /^fleet-agent@1\s+4\s+1\s+0\s+\d+ s\s+2 at 5, 2 at 0$/m);
  assert.match(text.out, /^fleet-agent@2\s+0\s+0\s+1\s+-$/m);
  await store.leases().release(held!);
});

test('statecraft queue without a PostgreSQL store says how to give one', async () => {
  const { STATECRAFT_STORE: _, ...env } = process.env;
  const result = await exec(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'queue'], { cwd: root, env: { ...env, NO_COLOR: '1' } }).catch((error: { code: number; stderr: string }) => error);
  assert.is((result as { code: number }).code, 2);
  assert.match((result as { stderr: string }).stderr, 'statecraft queue needs a PostgreSQL store');
});

test('a worker takes the highest priority first, and within a priority the oldest run first', async () => {
  const { store } = freshStore();
  const submit = async (task: string, priority: number) => (await submitRun(agent, task, { store, priority })).runId;
  const low1 = await submit('low 1', 0);
  const high1 = await submit('high 1', 5);
  const low2 = await submit('low 2', 0);
  const mid = await submit('mid', 1);
  const high2 = await submit('high 2', 5);
  const below = await submit('below', -3);
  assert.equal(await orderTaken(store, [low1, high1, low2, mid, high2, below]), [high1, high2, mid, low1, low2, below]);
});

test('a run released by a draining worker keeps its place: it goes before runs of its priority queued after it', async () => {
  const { store } = freshStore();
  const events: WorkerEvent[] = [];
  const draining = await startWorker({ store, agents: [agent], concurrency: 1, pollMs: 20, leaseMs: 60_000, graceMs: 0, onEvent: (event) => events.push(event) });
  const { runId: first } = await submitRun(agent, 'slow first', { store });
  for (let i = 0; i < 200 && takenOrder(events).length === 0; i++) await delay(20);
  assert.equal(takenOrder(events), [first]);
  const { runId: second } = await submitRun(agent, 'second', { store });
  await draining.stop();
  assert.ok(events.some((event) => event.type === 'run.released' && event.runId === first), 'the slow run was released, its ticket sent again');
  const { runId: third } = await submitRun(agent, 'third', { store });
  assert.equal(await orderTaken(store, [first, second, third]), [first, second, third]);
});

test('an agent limit of 2 across two workers never has more than 2 runs leased at once, and every run ends', async () => {
  const { store, schema } = freshStore();
  const audit = await auditTakes(store, schema);
  const runIds: string[] = [];
  for (let i = 0; i < 8; i++) runIds.push((await submitRun(agent, `paced ${i}`, { store })).runId);
  const stopSampling = sampleLeases(store, schema);
  const events: WorkerEvent[] = [];
  const workers: Worker[] = [];
  for (const limit of [{ 'fleet-agent': 2 }, { 'fleet-agent@1': 2 }] as Record<string, number>[]) {
    workers.push(await startWorker({ store, agents: [agent], concurrency: 4, pollMs: 20, limits: { agents: limit }, onEvent: (event) => events.push(event) }));
  }
  await summariesWhen(store, runIds, (summary) => summary.status === 'done', 60_000);
  const sampled = await stopSampling();
  await Promise.all(workers.map((worker) => worker.stop()));
  const { queueMax, takes } = await audit();
  assert.is(takes, 8, 'each run was taken once');
  assert.is(queueMax, 2, 'no take found more than 2 live leases of the agent, counting its own, and some found 2');
  assert.ok(sampled.get('all')! <= 2, `sampled: ${sampled.get('all')} leased at once`);
  const byWorker = new Set(events.flatMap((event) => (event.type === 'run.taken' ? [event.workerId] : [])));
  assert.is(byWorker.size, 2, 'both workers took runs');
});

test('a tenant limit caps a tenant across workers while other tenants run; refused runs are deferred, not lost', async () => {
  const { store, schema } = freshStore();
  const audit = await auditTakes(store, schema);
  const acme: string[] = [];
  const others: string[] = [];
  for (let i = 0; i < 6; i++) acme.push((await submitRun(agent, `paced acme ${i}`, { store, tenant: 'acme' })).runId);
  for (let i = 0; i < 3; i++) others.push((await submitRun(agent, `paced globex ${i}`, { store, labels: { 'statecraft.tenant': 'globex' } })).runId);
  const { runId: untenanted } = await submitRun(agent, 'paced nobody', { store });
  assert.is((await store.header(acme[0]!)).labels?.['statecraft.tenant'], 'acme');
  const events: WorkerEvent[] = [];
  const limits = { tenants: { acme: 2, '*': 1 } };
  const workers = [
    await startWorker({ store, agents: [agent], concurrency: 4, pollMs: 20, limits, onEvent: (event) => events.push(event) }),
    await startWorker({ store, agents: [agent], concurrency: 4, pollMs: 20, limits, onEvent: (event) => events.push(event) }),
  ];
  await summariesWhen(store, [...acme, ...others, untenanted], (summary) => summary.status === 'done', 60_000);
  await Promise.all(workers.map((worker) => worker.stop()));
  const { tenantMax, takes } = await audit();
  assert.is(takes, 10, 'each run was taken once');
  assert.is(tenantMax.get('acme'), 2, 'acme never had more than 2 runs leased, and had 2 at some take');
  assert.is(tenantMax.get('globex'), 1, 'a tenant not named has the * limit');
  const deferred = events.filter((event) => event.type === 'run.deferred');
  assert.ok(deferred.length > 0, 'with 8 free slots and 6 acme runs first in the queue, some were refused');
  assert.ok(deferred.every((event) => event.type === 'run.deferred' && (event.limit === 'tenant acme' || event.limit === 'tenant globex')), JSON.stringify(deferred));
  assert.ok(deferred.some((event) => event.type === 'run.deferred' && event.limit === 'tenant acme' && event.max === 2));
});

test('limits are checked before a worker starts: whole numbers, and agent keys naming its agents', async () => {
  const { store } = freshStore();
  const refused = (limits: object) => startWorker({ store, agents: [agent], limits }).then(() => undefined, (error: Error) => error.message);
  assert.match((await refused({ agents: { 'fleet-agnet': 2 } }))!, 'names no agent of this worker (its agents: fleet-agent, fleet-agent@1). Did you mean fleet-agent?');
  assert.match((await refused({ tenants: { acme: 0 } }))!, 'Worker limit tenants["acme"] must be a whole number of runs, 1 or more, found 0');
});

test.after(async () => {
  for (const store of stores) await store.close();
  await server.close();
  for (const schema of schemas) await dropSchema(schema);
});

test.run();
