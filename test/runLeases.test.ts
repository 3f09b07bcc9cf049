import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { UserError } from '../src/errors.ts';
import { makeRecord } from '../src/log/format/makeRecord.ts';
import { RUN_FORMAT, type RunHeader, type RunRecord } from '../src/log/format/record.ts';
import { LeaseLostError } from '../src/log/format/storageErrors.ts';
import { MemoryStore } from '../src/log/stores/memoryStore.ts';
import { PostgresStore } from '../src/log/stores/postgres/postgresStore.ts';
import { newRunSummary } from '../src/log/stores/runStore.ts';
import { SqliteStore } from '../src/log/stores/sqlite/sqliteStore.ts';
import { delay } from '../src/delay.ts';

// Leases and fencing at the store: what a worker that lost its run can and cannot write.

const PG_URL = process.env.STATECRAFT_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = `sc_leases_${randomBytes(5).toString('hex')}`;
const store = new PostgresStore({ connectionString: PG_URL, schema });
const leases = store.leases();

const header = (runId: string): RunHeader => ({
  format: RUN_FORMAT,
  runId,
  agent: { id: 'a', version: '1' },
  machine: { id: 'm', hash: 'h' },
  model: { provider: 'test', model: 'm', params: {} },
  createdAt: new Date().toISOString(),
});

const recordsOf = (runId: string, from: number, count: number): RunRecord[] =>
  Array.from({ length: count }, (_, i) => {
    const seq = from + i;
    return makeRecord({ runId, seq, event: { type: seq === 0 ? 'xstate.init' : 'STEP' }, state: 's', previous: { n: seq - 1 }, snapshot: { n: seq } });
  });

/** A run submitted to a queue: created with its lease row, no owner. */
async function submitted(runId: string): Promise<void> {
  await store.createRun(header(runId), { ...newRunSummary(header(runId)), status: 'queued' }, (db) => leases.register(db, runId, 'q', 0));
}

const refusal = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (error: unknown) => error as Error,
  );

test('an append under the current lease goes through; once another worker takes the run, the old epoch is refused and nothing of it is stored', async () => {
  await submitted('r1');
  const first = await leases.acquire('r1', 'worker-a', 400);
  assert.ok(first, 'a run nobody holds is taken');
  assert.is(first!.epoch, 1);
  assert.is(await leases.acquire('r1', 'worker-b', 400), undefined, 'a live lease is not taken');
  await store.append('r1', recordsOf('r1', 0, 2), { expectedSeq: 0, lease: first!.epoch });
  await delay(600);
  const second = await leases.acquire('r1', 'worker-b', 5_000);
  assert.is(second?.epoch, 2, 'an expired lease is taken, with the next epoch');
  const refused = await refusal(store.append('r1', recordsOf('r1', 2, 1), { expectedSeq: 2, lease: first!.epoch }));
  assert.instance(refused, LeaseLostError);
  assert.match(refused!.message, 'lease (epoch 1) is no longer the run');
  assert.match(refused!.message, 'worker worker-b holds it (lease epoch 2)');
  assert.is((await store.summary('r1')).lastSeq, 1, 'the stale batch left nothing');
  await store.append('r1', recordsOf('r1', 2, 1), { expectedSeq: 2, lease: second!.epoch });
  assert.is((await store.read('r1')).length, 3);
});

test('a lease that expired by the database clock refuses its appends even when nobody took the run yet', async () => {
  await submitted('r2');
  const lease = await leases.acquire('r2', 'worker-a', 300);
  await store.append('r2', recordsOf('r2', 0, 1), { expectedSeq: 0, lease: lease!.epoch });
  await delay(500);
  const refused = await refusal(store.append('r2', recordsOf('r2', 1, 1), { expectedSeq: 1, lease: lease!.epoch }));
  assert.instance(refused, LeaseLostError);
  assert.match(refused!.message, 'no worker holds it now');
  assert.equal(await leases.renew('worker-a', [{ runId: 'r2', epoch: lease!.epoch }], 5_000), new Set(), 'an expired lease is not renewed');
});

test('a writer without a lease is refused while a worker holds the run, and may write once the lease is released', async () => {
  await submitted('r3');
  const lease = await leases.acquire('r3', 'worker-a', 5_000);
  const refused = await refusal(store.append('r3', recordsOf('r3', 0, 1), { expectedSeq: 0 }));
  assert.instance(refused, LeaseLostError);
  assert.match(refused!.message, 'is held by a worker: worker worker-a holds it');
  assert.ok(await leases.release(lease!), 'released by its owner');
  assert.not.ok(await leases.release(lease!), 'a second release finds it not held');
  await store.append('r3', recordsOf('r3', 0, 1), { expectedSeq: 0 });
  assert.is((await store.summary('r3')).lastSeq, 0);
});

test('renewal extends only the leases the owner holds with the same epoch', async () => {
  await submitted('r4');
  await submitted('r5');
  const held = await leases.acquire('r4', 'worker-a', 400);
  const other = await leases.acquire('r5', 'worker-b', 5_000);
  const renewed = await leases.renew('worker-a', [{ runId: 'r4', epoch: held!.epoch }, { runId: 'r5', epoch: other!.epoch }], 5_000);
  assert.equal(renewed, new Set(['r4']));
  assert.equal(await leases.renew('worker-a', [{ runId: 'r4', epoch: held!.epoch + 1 }], 5_000), new Set(), 'a wrong epoch is not renewed');
  await delay(600);
  assert.is((await leases.state('r4'))?.live, true, 'renewed past its first expiry');
});

test('reaping clears leases that expired while held and requeues their runs in the same transaction', async () => {
  await submitted('r6');
  const lease = await leases.acquire('r6', 'worker-dead', 300);
  await delay(500);
  const requeued: string[][] = [];
  const reaped = await leases.reap(100, async (db, runs) => {
    requeued.push(runs.map((run) => run.runId));
    // Proof that the callback runs inside the reaping transaction: it sees the lease already cleared.
    const { rows } = await db.executeSql(`SELECT owner FROM "${schema}".run_leases WHERE run_id = 'r6'`);
    assert.is(rows[0].owner, null);
  });
  assert.ok(reaped.some((run) => run.runId === 'r6' && run.queue === 'q'));
  assert.ok(requeued.flat().includes('r6'));
  assert.equal(await leases.reap(100, async () => assert.unreachable('nothing left to reap')), []);
  const refused = await refusal(store.append('r6', recordsOf('r6', 0, 1), { expectedSeq: 0, lease: lease!.epoch }));
  assert.instance(refused, LeaseLostError, 'the dead worker cannot write after its lease was reaped');
  const next = await leases.acquire('r6', 'worker-b', 5_000);
  assert.is(next?.epoch, lease!.epoch + 1);
});

test('a requeue that fails rolls the reaping back, so the run is reaped again rather than lost', async () => {
  await submitted('r7');
  await leases.acquire('r7', 'worker-dead', 300);
  await delay(500);
  const failed = await refusal(
    leases.reap(100, async () => {
      throw new Error('queue unreachable');
    }),
  );
  assert.match(failed?.message ?? '', 'queue unreachable');
  assert.is((await leases.state('r7'))?.owner, 'worker-dead', 'still held by the dead worker, to be reaped again');
  const reaped = await leases.reap(100, async () => {});
  assert.ok(reaped.some((run) => run.runId === 'r7'));
});

test('a schema made before leases existed gets them, and loses the append that could write around the fence', async () => {
  const older = `${schema}_old`;
  const first = new PostgresStore({ connectionString: PG_URL, schema: older });
  await first.listRuns();
  const db = first.executor();
  // As an earlier version left it: no lease table, the append without an epoch, no mark on the schema.
  await db.executeSql(`DROP TABLE "${older}".run_leases`);
  await db.executeSql(`DROP FUNCTION "${older}".append_records(text, integer, bytea[], bytea[], bytea[], text[], bytea[], integer[], bytea[], text, boolean, bytea, bigint)`);
  await db.executeSql(`CREATE FUNCTION "${older}".append_records(text, integer, bytea[], bytea[], bytea[], text[], bytea[], integer[], bytea[], text, boolean, bytea) RETURNS void LANGUAGE sql AS 'SELECT 1'`);
  await db.executeSql(`COMMENT ON SCHEMA "${older}" IS NULL`);
  await first.close();
  const again = new PostgresStore({ connectionString: PG_URL, schema: older });
  await again.listRuns();
  const { rows } = await again.executor().executeSql(
    `SELECT p.pronargs AS args FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = $1 AND p.proname = 'append_records'`,
    [older],
  );
  assert.equal(rows.map((row: { args: number }) => row.args), [13], 'only the fenced append is left');
  await again.createRun(header('o1'), newRunSummary(header('o1')), (tx) => again.leases().register(tx, 'o1', 'q', 0));
  const lease = await again.leases().acquire('o1', 'w', 5_000);
  assert.is(lease?.epoch, 1);
  await again.close();
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS "${older}" CASCADE`);
  await client.end();
});

test('stores without leases refuse an append that names one', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'statecraft-leases-'));
  for (const other of [new MemoryStore(), new SqliteStore({ path: join(dir, 'runs.db') })]) {
    await other.createRun(header('m1'), newRunSummary(header('m1')));
    const refused = await refusal(other.append('m1', recordsOf('m1', 0, 1), { expectedSeq: 0, lease: 1 }));
    assert.instance(refused, UserError);
    assert.match(refused!.message, 'has no leases: workers need a PostgreSQL store');
    await other.close();
  }
  rmSync(dir, { recursive: true, force: true });
});

test.after(async () => {
  await store.close();
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await client.end();
});

test.run();
