import { missing } from './fixtures/missing.ts';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ConflictError, StorageError } from '../src/errors.ts';
import { crc32 } from 'node:zlib';
import { decodeText, encodeText } from '../src/log/format/codec.ts';
import { chainedChecksum } from '../src/log/format/chain.ts';
import { verifyRun } from '../src/log/reads/verifyRun.ts';
import { makeRecord } from '../src/log/format/makeRecord.ts';
import { MemoryStore } from '../src/log/stores/memoryStore.ts';
import { openStore } from '../src/log/stores/openStore.ts';
import type { MemoryStoreData } from '../src/log/stores/memoryStore.ts';
import { PostgresStore } from '../src/log/stores/postgres/postgresStore.ts';
import { StoreNotFoundError } from '../src/log/format/storageErrors.ts';
import { normalize } from '../src/log/format/patch.ts';
import { stateAt } from '../src/log/reads/reads.ts';
import { StateIndexWriter } from '../src/log/reads/stateIndex.ts';
import type { RunHeader, RunRecord, RunSummary } from '../src/log/format/record.ts';
import { sealHeader } from '../src/log/format/record.ts';
import type { RunStore } from '../src/log/stores/runStore.ts';
import { SqliteStore } from '../src/log/stores/sqlite/sqliteStore.ts';
import { CorruptRecordError, RunExistsError, RunNotFoundError, UnsupportedFormatError } from '../src/log/format/storageErrors.ts';
import { cli, root } from './fixtures/cli.ts';
import { createMachine } from 'xstate';
import { machineEntry } from '../src/runtime/runMachines.ts';

const PG_URL = process.env.STATECRAFT_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A fresh, isolated backing for one test: a store, a second store on the same data, and a way to damage a stored record. */
interface Backing {
  store: RunStore;
  second(): RunStore;
  /** Edits the stored bytes of a record's body, as a torn write or a bad disk would. */
  damage(runId: string, seq: number, edit: (stored: Buffer) => Buffer): Promise<void>;
  /** Overwrites the stored root of an indexed state with bytes that do not decode. */
  damageIndexed(runId: string, seq: number): Promise<void>;
  /** Overwrites a run's stored summary text. */
  damageSummary(runId: string, text: string): Promise<void>;
  /** Rewrites a run's stored header text through `edit`. */
  damageHeader(runId: string, edit: (text: string) => string): Promise<void>;
  dispose(): Promise<void>;
}

type Harness = () => Promise<Backing>;

const memory: Harness = async () => {
  const data: MemoryStoreData = new Map();
  return {
    store: new MemoryStore({ data }),
    second: () => new MemoryStore({ data }),
    damage: async (runId, seq, edit) => {
      const stored = data.get(runId)?.records[seq];
      if (stored) stored.body = edit(Buffer.from(stored.body as Uint8Array));
    },
    damageIndexed: async (runId, seq) => {
      data.get(runId)?.points?.set(seq, Buffer.from([1, 2, 3]));
    },
    damageSummary: async (runId, text) => {
      data.get(runId)!.summary = text;
    },
    damageHeader: async (runId, edit) => {
      data.get(runId)!.header = edit(data.get(runId)!.header);
    },
    dispose: async () => {},
  };
};

const sqlite: Harness = async () => {
  const dir = mkdtempSync(join(tmpdir(), 'statecraft-store-'));
  const path = join(dir, 'nested', 'runs.db');
  const opened: RunStore[] = [];
  const open = (): RunStore => {
    const store = new SqliteStore({ path });
    opened.push(store);
    return store;
  };
  return {
    store: open(),
    second: open,
    damage: async (runId, seq, edit) => {
      const db = new Database(path);
      const row = db.prepare<[string, number], { body: Uint8Array }>('SELECT body FROM records WHERE run_id = ? AND seq = ?').get(runId, seq);
      if (row) db.prepare('UPDATE records SET body = ? WHERE run_id = ? AND seq = ?').run(edit(Buffer.from(row.body)), runId, seq);
      db.close();
    },
    damageIndexed: async (runId, seq) => {
      const db = new Database(path);
      db.prepare('UPDATE state_index SET root = ? WHERE run_id = ? AND seq = ?').run(Buffer.from([1, 2, 3]), runId, seq);
      db.close();
    },
    damageSummary: async (runId, text) => {
      const db = new Database(path);
      db.prepare('UPDATE runs SET summary = ? WHERE run_id = ?').run(text, runId);
      db.close();
    },
    damageHeader: async (runId, edit) => {
      const db = new Database(path);
      const row = db.prepare<[string], { header: string }>('SELECT header FROM runs WHERE run_id = ?').get(runId)!;
      db.prepare('UPDATE runs SET header = ? WHERE run_id = ?').run(edit(row.header), runId);
      db.close();
    },
    dispose: async () => {
      for (const store of opened) await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
};

const postgres: Harness = async () => {
  const schema = `sc_test_${randomBytes(6).toString('hex')}`;
  const opened: RunStore[] = [];
  const open = (): RunStore => {
    const store = new PostgresStore({ connectionString: PG_URL, schema });
    opened.push(store);
    return store;
  };
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  return {
    store: open(),
    second: open,
    damage: async (runId, seq, edit) => {
      const { rows } = await admin.query<{ body: Uint8Array }>(`SELECT body FROM "${schema}".records WHERE run_id = $1 AND seq = $2`, [runId, seq]);
      if (rows[0]) await admin.query(`UPDATE "${schema}".records SET body = $1 WHERE run_id = $2 AND seq = $3`, [edit(Buffer.from(rows[0].body)), runId, seq]);
    },
    damageIndexed: async (runId, seq) => {
      await admin.query(`UPDATE "${schema}".state_index SET root = $1 WHERE run_id = $2 AND seq = $3`, [Buffer.from([1, 2, 3]), runId, seq]);
    },
    damageSummary: async (runId, text) => {
      await admin.query(`UPDATE "${schema}".runs SET summary = $1 WHERE run_id = $2`, [text, runId]);
    },
    damageHeader: async (runId, edit) => {
      const { rows } = await admin.query<{ header: string }>(`SELECT header FROM "${schema}".runs WHERE run_id = $1`, [runId]);
      await admin.query(`UPDATE "${schema}".runs SET header = $1 WHERE run_id = $2`, [edit(rows[0]!.header), runId]);
    },
    dispose: async () => {
      for (const store of opened) await store.close();
      await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await admin.end();
    },
  };
};

async function postgresReachable(): Promise<boolean> {
  // A machine busy with other tests can take seconds to accept a connection.
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 15_000 });
  try {
    await client.connect();
    await client.end();
    return true;
  } catch (error) {
    missing(`PostgreSQL store tests cannot connect to ${PG_URL} (${(error as Error).message})`, 'start PostgreSQL, or set STATECRAFT_TEST_DATABASE_URL');
    return false;
  }
}

const T0 = Date.parse('2025-01-01T00:00:00.000Z');
const at = (seconds: number): string => new Date(T0 + seconds * 1000).toISOString();

function header(runId: string, extra: Partial<RunHeader> = {}): RunHeader {
  return {
    format: 1,
    runId,
    agent: { id: 'agent-a', version: '1.0.0' },
    machine: { id: 'loop', hash: 'abc123' },
    model: { provider: 'scripted', model: 'test', params: { temperature: 0 } },
    createdAt: at(0),
    ...extra,
  };
}

function summary(runId: string, extra: Partial<RunSummary> = {}): RunSummary {
  return { runId, agentId: 'agent-a', status: 'running', steps: 0, inputTokens: 0, outputTokens: 0, costUsd: 0, lastSeq: -1, createdAt: at(0), updatedAt: at(0), ...extra };
}

const snapshotAt = (seq: number, writer = 'w'): { context: { items: string[]; writer: string } } => ({
  context: { items: Array.from({ length: seq + 1 }, (_, i) => `item ${i}`), writer },
});

function records(runId: string, from: number, count: number, options: { keyframeEvery?: number; writer?: string } = {}): RunRecord[] {
  const writer = options.writer ?? 'w';
  return Array.from({ length: count }, (_, i) => {
    const seq = from + i;
    return makeRecord({
      runId,
      seq,
      time: at(seq),
      event: { type: seq === 0 ? 'xstate.init' : 'STEP', writer },
      state: seq % 2 ? 'infer' : 'assemble',
      previous: seq === 0 ? undefined : snapshotAt(seq - 1, writer),
      snapshot: snapshotAt(seq, writer),
      keyframe: options.keyframeEvery !== undefined && seq % options.keyframeEvery === 0,
      meta: { durationMs: seq },
    });
  });
}

async function newRun(store: RunStore, runId: string, count: number, summaryExtra: Partial<RunSummary> = {}, headerExtra: Partial<RunHeader> = {}): Promise<void> {
  await store.createRun(header(runId, headerExtra), summary(runId, summaryExtra));
  if (count > 0) await store.append(runId, records(runId, 0, count), { expectedSeq: 0, summary: { updatedAt: summaryExtra.updatedAt ?? at(0) } });
}

async function rejects(promise: Promise<unknown>, check: (error: unknown) => boolean, label: string): Promise<void> {
  try {
    await promise;
  } catch (error) {
    assert.ok(check(error), `${label}: unexpected ${String(error)}`);
    return;
  }
  assert.unreachable(`${label}: expected a rejection`);
}

function conformance(name: string, harness: Harness): void {
  const it = suite<{ backing?: Backing }>(`${name} store`, {});
  it.before.each(async (context) => {
    context.backing = await harness();
  });
  it.after.each(async (context) => {
    await context.backing?.dispose();
  });
  const use = (context: { backing?: Backing }): Backing => context.backing as Backing;

  it('creates a run, appends records and reads them back in seq order', async (context) => {
    const { store } = use(context);
    await newRun(store, 'r1', 0);
    const written = records('r1', 0, 5);
    await store.append('r1', written.slice(0, 2), { expectedSeq: 0 });
    await store.append('r1', written.slice(2), { expectedSeq: 2 });
    assert.equal(await store.read('r1'), written);
    const stored = await store.header('r1');
    assert.equal(stored, sealHeader(header('r1')), 'the header as given, sealed with its checksum');
    assert.type(stored.checksum, 'string');
    assert.is((await store.summary('r1')).lastSeq, 4);
    await rejects(store.createRun(header('r1'), summary('r1')), (e) => e instanceof RunExistsError, 'duplicate create');
  });

  it('reads ranges, keyframes and history without snapshots', async (context) => {
    const { store } = use(context);
    await store.createRun(header('r1'), summary('r1'));
    await store.append('r1', records('r1', 0, 12, { keyframeEvery: 5 }), { expectedSeq: 0 });
    assert.equal((await store.read('r1', { from: 3, to: 6 })).map((r) => r.seq), [3, 4, 5, 6]);
    assert.equal((await store.read('r1', { from: 10 })).map((r) => r.seq), [10, 11]);
    assert.equal((await store.read('r1', { to: 1 })).map((r) => r.seq), [0, 1]);
    assert.equal(await store.read('r1', { from: 20 }), []);
    assert.is((await store.keyframeAtOrBefore('r1', 9))?.seq, 5);
    assert.is((await store.keyframeAtOrBefore('r1', 10))?.seq, 10);
    assert.equal((await store.keyframeAtOrBefore('r1', 4))?.snapshot, snapshotAt(0));
    const lines = await store.readHistory('r1', { from: 1, to: 2 });
    assert.equal(lines.map(({ event: _event, ...line }) => line), [
      { seq: 1, time: at(1), eventType: 'STEP', state: 'infer', meta: { durationMs: 1 } },
      { seq: 2, time: at(2), eventType: 'STEP', state: 'assemble', meta: { durationMs: 2 } },
    ]);
    assert.is(lines[0]!.event.type, 'STEP', 'history carries the whole event');
  });

  it('reads patches alone, equal to the patches of the records, and finds keyframes without reading them', async (context) => {
    const { store } = use(context);
    await store.createRun(header('r1'), summary('r1'));
    await store.append('r1', records('r1', 0, 12, { keyframeEvery: 5 }), { expectedSeq: 0 });
    const full = await store.read('r1', { from: 2, to: 11 });
    assert.equal(await store.readPatches('r1', { from: 2, to: 11 }), full.map((record) => ({ seq: record.seq, patch: record.patch })));
    assert.equal(await Promise.all([9, 5, 4, 11].map((seq) => store.keyframeSeqAtOrBefore('r1', seq))), [5, 5, 0, 10]);
    await rejects(store.readPatches('nope'), (e) => e instanceof RunNotFoundError, 'unknown run');
  });

  it('a run cut back and written again reads its new states, not remembered ones', async (context) => {
    const { store } = use(context);
    await store.createRun(header('r1'), summary('r1'));
    await store.append('r1', records('r1', 0, 8, { keyframeEvery: 50 }), { expectedSeq: 0 });
    assert.equal(await stateAt(store, 'r1', 6), snapshotAt(6));
    assert.is(await store.truncate('r1', 3), 4);
    assert.is((await store.summary('r1')).truncations, 1);
    await store.append('r1', records('r1', 4, 4, { writer: 'second', keyframeEvery: 4 }), { expectedSeq: 4 });
    const after = (await stateAt(store, 'r1', 6)) as { context: { writer: string } };
    assert.is(after.context.writer, 'second');
  });

  it('updates the summary on append and keeps lastSeq its own', async (context) => {
    const { store } = use(context);
    await newRun(store, 'r1', 1);
    await store.append('r1', records('r1', 1, 2), {
      expectedSeq: 1,
      summary: { status: 'waiting', steps: 2, inputTokens: 10, outputTokens: 4, costUsd: 0.01, lastSeq: 99, updatedAt: at(60), waitingOn: { approvals: ['c1'] } },
    });
    const s = await store.summary('r1');
    assert.equal(s, { ...summary('r1'), status: 'waiting', steps: 2, inputTokens: 10, outputTokens: 4, costUsd: 0.01, lastSeq: 2, updatedAt: at(60), waitingOn: { approvals: ['c1'] } });
    await store.append('r1', [], { expectedSeq: 3, summary: { status: 'done', updatedAt: at(61), waitingOn: undefined } });
    const done = await store.summary('r1');
    assert.is(done.status, 'done');
    assert.is(done.waitingOn, undefined, 'a field set to undefined is removed');
    assert.is(done.steps, 2, 'fields not named are kept');
    assert.is((await store.listRuns({ status: ['done'] }))[0]?.updatedAt, at(61));
    await rejects(store.append('r1', [], { expectedSeq: 3, summary: { status: 'nope' as never } }), (e) => /status/.test(String(e)), 'invalid summary');
  });

  it('keeps the owner of a running run until it is cleared, and each new owner whole', async (context) => {
    const { store } = use(context);
    await newRun(store, 'r1', 1);
    const owner = { host: 'h1', pid: 42, id: 'a' };
    await store.append('r1', [], { expectedSeq: 1, summary: { owner, updatedAt: at(70) } });
    assert.equal((await store.summary('r1')).owner, owner);
    await store.append('r1', [], { expectedSeq: 1, summary: { owner: { host: 'h2', pid: 7, id: 'b' } } });
    assert.equal((await store.summary('r1')).owner, { host: 'h2', pid: 7, id: 'b' });
    await store.append('r1', [], { expectedSeq: 1, summary: { status: 'done', owner: undefined } });
    const done = await store.summary('r1');
    assert.is(done.owner, undefined);
    assert.is(done.lastSeq, 0, 'an append without records keeps lastSeq');
    await rejects(store.append('r1', [], { expectedSeq: 1, summary: { owner: { host: 'h', pid: 0, id: 'x' } } }), (e) => /owner/.test(String(e)), 'invalid owner');
  });

  it('keeps the agent module a run was created or trusted with, through appends and truncation, and never derives it from the header', async (context) => {
    const backing = use(context);
    const { store } = backing;
    await newRun(store, 'mine', 3, { agentModule: '/home/me/agent.ts' }, { labels: { module: '/home/me/agent.ts' } });
    await store.append('mine', [], { expectedSeq: 3, summary: { status: 'waiting', steps: 1, updatedAt: at(20) } });
    assert.is((await store.summary('mine')).agentModule, '/home/me/agent.ts', 'an update that leaves it out keeps it');
    await store.truncate('mine', 1, { status: 'running' });
    assert.is((await backing.second().summary('mine')).agentModule, '/home/me/agent.ts', 'truncation keeps it');
    assert.is((await store.listRuns()).find((run) => run.runId === 'mine')?.agentModule, '/home/me/agent.ts');

    await newRun(store, 'theirs', 2, { updatedAt: at(7) }, { labels: { module: '/elsewhere/agent.ts' } });
    assert.is((await store.summary('theirs')).agentModule, undefined, "a header's module label is not the store's module");
    await store.append('theirs', [], { expectedSeq: 2, summary: { agentModule: '/home/me/copy.ts', updatedAt: at(7) } });
    const trusted = await store.summary('theirs');
    assert.equal([trusted.agentModule, trusted.lastSeq, trusted.updatedAt], ['/home/me/copy.ts', 1, at(7)], 'set by an update without records');
    await rejects(store.append('theirs', [], { expectedSeq: 2, summary: { agentModule: '' } }), (e) => /agentModule/.test(String(e)), 'an empty module');

    await backing.damageSummary('theirs', '{"runId": "theirs", "sta');
    await store.truncate('theirs', 1, { status: 'running' });
    assert.is((await store.summary('theirs')).agentModule, undefined, 'a summary rebuilt from the header holds no module');
  });

  it('lists runs newest first, filtered by status, agent, parent, time and limit', async (context) => {
    const { store } = use(context);
    await newRun(store, 'a', 1, { status: 'done', updatedAt: at(10) });
    await newRun(store, 'b', 1, { status: 'running', updatedAt: at(30) });
    await newRun(store, 'c', 1, { status: 'failed', updatedAt: at(20), agentId: 'agent-b', parent: { runId: 'a', seq: 0 } }, { parent: { runId: 'a', seq: 0 } });
    await newRun(store, 'd', 0, { status: 'waiting', updatedAt: at(5) });
    const ids = async (filter?: Parameters<RunStore['listRuns']>[0]): Promise<string[]> => (await store.listRuns(filter)).map((s) => s.runId);
    assert.equal(await ids(), ['b', 'c', 'a', 'd']);
    assert.equal(await ids({ status: ['done', 'failed'] }), ['c', 'a']);
    assert.equal(await ids({ agentId: 'agent-b' }), ['c']);
    assert.equal(await ids({ parentRunId: 'a' }), ['c']);
    assert.equal(await ids({ updatedAfter: at(10) }), ['b', 'c']);
    assert.equal(await ids({ limit: 2 }), ['b', 'c']);
    assert.equal(await ids({ status: [] }), []);
    await store.append('d', [], { expectedSeq: 0, summary: { updatedAt: at(99) } });
    assert.equal(await ids({ limit: 1 }), ['d']);
  });

  it('deletes a run and reports unknown runs with RunNotFoundError', async (context) => {
    const { store } = use(context);
    await newRun(store, 'r1', 3);
    await store.deleteRun('r1');
    const missing = (e: unknown): boolean => e instanceof RunNotFoundError && /"r1"/.test(String(e));
    await rejects(store.header('r1'), missing, 'header');
    await rejects(store.summary('r1'), missing, 'summary');
    await rejects(store.read('r1'), missing, 'read');
    await rejects(store.readHistory('r1'), missing, 'readHistory');
    await rejects(store.keyframeAtOrBefore('r1', 0), missing, 'keyframe');
    await rejects(store.append('r1', records('r1', 0, 1), { expectedSeq: 0 }), missing, 'append');
    await rejects(store.truncate('r1', 0), missing, 'truncate');
    await rejects(store.deleteRun('r1'), missing, 'delete');
    assert.equal(await store.listRuns(), []);
    await newRun(store, 'r1', 1);
    assert.is((await store.read('r1')).length, 1);
  });

  it('refuses appends at the wrong seq with ConflictError naming run and seqs', async (context) => {
    const { store } = use(context);
    await newRun(store, 'r1', 3);
    await rejects(
      store.append('r1', records('r1', 1, 1), { expectedSeq: 1 }),
      (e) => e instanceof ConflictError && /Run "r1"/.test(String(e)) && /expected the next seq to be 1, found 3/.test(String(e)),
      'stale',
    );
    await rejects(store.append('r1', records('r1', 4, 1), { expectedSeq: 3 }), (e) => /seq 3, found 4/.test(String(e)), 'gap in batch');
    await rejects(store.append('r1', records('other', 3, 1), { expectedSeq: 3 }), (e) => /record of run "other"/.test(String(e)), 'foreign record');
    assert.is((await store.read('r1')).length, 3);
  });

  it('two writers on one run: exactly one wins, records never interleave', async (context) => {
    const backing = use(context);
    const a = backing.store;
    const b = backing.second();
    await newRun(a, 'r1', 1);
    for (let round = 0; round < 5; round++) {
      const next = 1 + round * 3;
      const results = await Promise.allSettled([
        a.append('r1', records('r1', next, 3, { writer: 'A' }), { expectedSeq: next }),
        b.append('r1', records('r1', next, 3, { writer: 'B' }), { expectedSeq: next }),
      ]);
      assert.is(results.filter((r) => r.status === 'fulfilled').length, 1, `round ${round}: one winner`);
      const loser = results.find((r) => r.status === 'rejected');
      assert.instance(loser?.status === 'rejected' ? loser.reason : undefined, ConflictError);
    }
    const all = await b.read('r1');
    assert.equal(all.map((r) => r.seq), Array.from({ length: 16 }, (_, i) => i));
    for (let start = 1; start < 16; start += 3) {
      const writers = new Set(all.slice(start, start + 3).map((r) => r.event.writer));
      assert.is(writers.size, 1, `batch at ${start} comes from one writer`);
    }
    assert.is((await a.summary('r1')).lastSeq, 15);
  });

  it('stores a large run with keyframes every 50 and reads any point back', async (context) => {
    const { store } = use(context);
    await store.createRun(header('big'), summary('big'));
    for (let from = 0; from < 5000; from += 500) {
      await store.append('big', records('big', from, 500, { keyframeEvery: 50 }), { expectedSeq: from });
    }
    const all = await store.read('big');
    assert.is(all.length, 5000);
    assert.ok(all.every((r, i) => r.seq === i && (r.snapshot !== undefined) === (i % 50 === 0)));
    assert.is((await store.readHistory('big')).length, 5000);
    assert.is((await store.keyframeAtOrBefore('big', 4999))?.seq, 4950);
    for (const seq of [0, 49, 50, 1234, 4999]) assert.equal(await stateAt(store, 'big', seq), snapshotAt(seq));
  });

  it('keeps a state index beside the log: reads any point from it, drops entries past a truncation, and falls back to the log when one is damaged', async (context) => {
    const backing = use(context);
    const { store } = backing;
    await store.createRun(header('ix'), summary('ix'));
    const writer = new StateIndexWriter();
    let items: Array<{ n: number }> = [];
    const live = Array.from({ length: 400 }, (_, seq) => {
      items = seq % 9 === 8 ? items.slice(0, -3) : [...items, { n: seq }];
      return { value: 'loop', context: { items, seq } };
    });
    const written = live.map((snapshot, seq) =>
      makeRecord({ runId: 'ix', seq, time: at(seq), event: { type: 'STEP' }, state: 'loop', previous: live[seq - 1], snapshot, keyframe: seq === 0 }),
    );
    for (let from = 0; from < 400; from += 100) {
      const points = written.slice(from, from + 100).flatMap((record) => (record.seq > 0 && record.seq % 10 === 0 ? [writer.point(record.seq, live[record.seq])] : []));
      await store.append('ix', written.slice(from, from + 100), { expectedSeq: from, points });
    }
    await rejects(
      store.append('ix', [], { expectedSeq: 400, points: [writer.point(3, live[3])] }),
      (e) => /indexed state for seq 3, outside the batch/.test(String(e)),
      'a point without its record',
    );
    assert.is(await store.statePointSeqAtOrBefore!('ix', 399), 390);
    assert.is(await store.statePointSeqAtOrBefore!('ix', 9), -1);
    assert.equal(await store.statePointAt!('ix', 390), normalize(live[390]));
    assert.is(await store.statePointAt!('ix', 391), undefined);
    // A second store reads with nothing remembered, backwards, so every read starts from the index.
    const fresh = backing.second();
    for (let seq = 399; seq >= 0; seq -= 3) assert.equal(await stateAt(fresh, 'ix', seq), normalize(live[seq]), `seq ${seq}`);
    await backing.damageIndexed('ix', 200);
    const third = backing.second();
    assert.is(await third.statePointAt!('ix', 200), undefined, 'a damaged entry reads as missing');
    assert.equal(await stateAt(third, 'ix', 205), normalize(live[205]), 'rebuilt from the log');
    await store.truncate('ix', 250);
    assert.is(await store.statePointSeqAtOrBefore!('ix', 399), 250);
  });

  it('detects a torn tail and truncate repairs it', async (context) => {
    const backing = use(context);
    const { store } = backing;
    await newRun(store, 'r1', 6);
    await backing.damage('r1', 5, (bytes) => bytes.subarray(0, Math.floor(bytes.length / 2)));
    await rejects(store.read('r1'), (e) => e instanceof CorruptRecordError && /Run "r1" record 5/.test(String(e)) && /statecraft repair r1/.test(String(e)), 'torn');
    assert.is((await store.read('r1', { to: 4 })).length, 5);
    assert.is(await store.truncate('r1', 4), 1);
    assert.is((await store.read('r1')).length, 5);
    assert.is((await store.summary('r1')).lastSeq, 4);
    await store.append('r1', records('r1', 5, 1), { expectedSeq: 5 });
    assert.is((await store.read('r1')).length, 6);
    assert.is(await store.truncate('r1', 10), 0);
  });

  it('truncate merges the listing facts of the new last state into the summary, in the same call', async (context) => {
    const { store } = use(context);
    await newRun(store, 'r1', 6, { status: 'done', reason: 'final_answer: ok', steps: 3 });
    await store.append('r1', [], { expectedSeq: 6, summary: { status: 'done', reason: 'final_answer: ok', steps: 3, costUsd: 0.5 } });
    assert.is(await store.truncate('r1', 3, { status: 'running', reason: undefined, steps: 1, costUsd: 0.1 }), 2);
    const cut = await store.summary('r1');
    assert.equal([cut.lastSeq, cut.status, cut.reason, cut.steps, cut.costUsd, cut.truncations], [3, 'running', undefined, 1, 0.1, 1]);
    assert.is(await store.truncate('r1', 3, { status: 'waiting' }), 0, 'nothing more to drop');
    const same = await store.summary('r1');
    assert.equal([same.lastSeq, same.status, same.truncations], [3, 'waiting', 1], 'the facts are written, no truncation counted');
  });

  it('a header altered after it was written fails its checksum, naming the run', async (context) => {
    const backing = use(context);
    await newRun(backing.store, 'hd', 2);
    await backing.damageHeader('hd', (text) => {
      const altered = JSON.parse(text) as RunHeader;
      altered.agent.id += 'X';
      return JSON.stringify(altered);
    });
    const error = await backing.second().header('hd').then(() => undefined, (caught: unknown) => caught);
    assert.instance(error, CorruptRecordError);
    assert.match((error as Error).message, 'Run "hd" header fails its checksum');
  });

  it('a summary that cannot be read is an error naming the run, listed as damaged, and rebuilt by truncate', async (context) => {
    const backing = use(context);
    const { store } = backing;
    await newRun(store, 'good', 2, { updatedAt: at(5) });
    await newRun(store, 'torn', 4, { updatedAt: at(9) });
    await newRun(store, 'shape', 1, { updatedAt: at(1) });
    await backing.damageSummary('torn', '{"runId": "torn", "sta');
    await backing.damageSummary('shape', '{"runId": 5}');
    for (const runId of ['torn', 'shape']) {
      await rejects(store.summary(runId), (e) => e instanceof CorruptRecordError && e.runId === runId && new RegExp(`Run "${runId}" summary cannot be read .*statecraft repair ${runId}`).test(String(e)), runId);
    }
    assert.is((await store.read('torn')).length, 4, 'records read without the summary');
    assert.is((await store.readHistory('torn')).length, 4);
    const listed = (await store.listRuns()).sort((a, b) => a.runId.localeCompare(b.runId));
    assert.equal(listed.map((run) => [run.runId, run.damaged === undefined]), [['good', true], ['shape', false], ['torn', false]]);
    assert.match(listed[2]!.damaged!, 'statecraft repair torn');
    assert.is(listed[2]!.agentId, 'agent-a');
    await rejects(store.truncate('torn', 2), (e) => e instanceof CorruptRecordError, 'no facts to rebuild from');
    assert.is(await store.truncate('torn', 3, { status: 'done', steps: 2 }), 0);
    const rebuilt = await store.summary('torn');
    assert.equal([rebuilt.runId, rebuilt.agentId, rebuilt.status, rebuilt.steps, rebuilt.lastSeq, rebuilt.createdAt], ['torn', 'agent-a', 'done', 2, 3, at(0)]);
    await store.deleteRun('shape');
    assert.equal((await store.listRuns()).map((run) => run.runId).sort(), ['good', 'torn']);
  });

  it('detects a flipped byte in storage and names the record', async (context) => {
    const backing = use(context);
    await newRun(backing.store, 'r1', 4);
    await backing.damage('r1', 2, (bytes) => {
      const copy = Buffer.from(bytes);
      copy[Math.floor(copy.length / 2)]! ^= 0x10;
      return copy;
    });
    await rejects(backing.store.read('r1'), (e) => e instanceof CorruptRecordError && /Run "r1" record 2 \w* ?cannot be read \(incorrect data check\)/.test(String(e)), 'flip');
    assert.is(await backing.store.truncate('r1', 1), 2);
    assert.equal((await backing.store.read('r1')).map((r) => r.seq), [0, 1]);
  });

  it('a damaged first byte of a stored record is damage named by its seq, not a newer format; a later codec is told apart', async (context) => {
    const backing = use(context);
    await newRun(backing.store, 'r1', 6);
    await backing.damage('r1', 5, (bytes) => {
      const copy = Buffer.from(bytes);
      copy[0]! ^= 0x40;
      return copy;
    });
    const damaged = (e: unknown): boolean => e instanceof CorruptRecordError && !(e instanceof UnsupportedFormatError) && /Run "r1" record 5/.test(String(e)) && /statecraft repair r1/.test(String(e));
    await rejects(backing.store.read('r1'), damaged, 'read');
    await rejects(backing.store.readHistory('r1', { from: 5 }), damaged, 'history');
    assert.is((await backing.store.readHistory('r1', { to: 4 })).length, 5);
    // A codec added later keeps the envelope: its first byte and a CRC-32 over it and the data.
    await backing.damage('r1', 4, (bytes) => {
      const payload = Buffer.from(decodeText(bytes));
      const later = Buffer.concat([Buffer.from([0x09, 0, 0, 0, 0]), payload]);
      later.writeUInt32BE(crc32(payload, crc32(later.subarray(0, 1))), 1);
      return later;
    });
    await rejects(backing.store.read('r1', { from: 4, to: 4 }), (e) => e instanceof UnsupportedFormatError && /encoding 0x9/.test(String(e)) && /upgrade Statecraft/.test(String(e)), 'later codec');
  });

  it('records of a run of format 3 are chained from its header when written, across handles and after a cut', async (context) => {
    const backing = use(context);
    const { store } = backing;
    await newRun(store, 'c1', 4, {}, { format: 3 });
    const head = await store.header('c1');
    const read = await store.read('c1');
    let previous = head.checksum!;
    for (const record of read) {
      const { checksum, ...content } = record;
      assert.is(checksum, chainedChecksum(previous, content), `record ${record.seq}`);
      previous = checksum;
    }
    // Another handle cuts back the record this one wrote last and writes another in its place; this
    // one then continues the chain from the record stored, not the one it wrote.
    const other = backing.second();
    await other.truncate('c1', 2);
    await other.append('c1', records('c1', 3, 1, { writer: 'other' }), { expectedSeq: 3 });
    await store.append('c1', records('c1', 4, 2), { expectedSeq: 4 });
    await other.append('c1', records('c1', 6, 2), { expectedSeq: 6 });
    const verified = await verifyRun(backing.second(), 'c1');
    assert.equal([verified.chained, verified.records, verified.problems], [true, 8, []]);
    assert.equal((await store.read('c1')).map((record) => record.event.writer), ['w', 'w', 'w', 'other', 'w', 'w', 'w', 'w']);
  });

  it('verify names the first record changed in storage, and the header of a chained run cannot lose its checksum', async (context) => {
    const backing = use(context);
    await newRun(backing.store, 'c2', 6, {}, { format: 3 });
    const rewrite = (change: (body: Record<string, unknown>) => void) => (bytes: Buffer) => {
      const body = JSON.parse(decodeText(bytes)) as Record<string, unknown>;
      change(body);
      return encodeText(JSON.stringify(body));
    };
    // Changed with its stored checksum left as it was: found at that record.
    await backing.damage('c2', 2, rewrite((body) => ((body.event as Record<string, unknown>).writer = 'mallory')));
    const first = await verifyRun(backing.second(), 'c2');
    assert.equal(first.problems.map((problem) => [problem.seq, problem.problem]), [[2, 'altered']]);
    assert.match(first.problems[0]!.detail, 'record 2 does not hold the checksum it was written with');
    // Sealed again over the change: the next record, chained to the old checksum, gives it away.
    const [one, two] = await backing.second().read('c2', { from: 1, to: 2 });
    const { checksum: _old, ...content } = two!;
    await backing.damage('c2', 2, rewrite((body) => (body.checksum = chainedChecksum(one!.checksum, content))));
    const second = await verifyRun(backing.second(), 'c2');
    assert.equal(second.problems.map((problem) => [problem.seq, problem.problem]), [[3, 'altered']]);
    await backing.damageHeader('c2', (text) => {
      const { checksum: _removed, ...rest } = JSON.parse(text) as RunHeader;
      return JSON.stringify(rest);
    });
    await rejects(backing.second().header('c2'), (e) => e instanceof CorruptRecordError && /Run "c2" header has no checksum/.test(String(e)), 'checksum removed');
    await rejects(verifyRun(backing.second(), 'c2').then((report) => {
      if (report.problems[0]?.problem === 'header') throw new CorruptRecordError(report.problems[0].detail);
    }), (e) => /has no checksum/.test(String(e)), 'verify names the header');
    // A header of format 1 written without a checksum still reads.
    await newRun(backing.store, 'old', 1);
    await backing.damageHeader('old', (text) => {
      const { checksum: _none, ...rest } = JSON.parse(text) as RunHeader;
      return JSON.stringify(rest);
    });
    assert.is((await backing.second().header('old')).checksum, undefined);
  });

  it('keeps each machine graph once per version, for any handle, and reads back a header naming invoked machines', async (context) => {
    const { store, second } = use(context);
    const entry = machineEntry(graphMachine);
    await store.saveMachines!([entry]);
    assert.equal(await second().machine!(entry.id, entry.hash), entry, 'read back by another handle');
    assert.is(await store.machine!(entry.id, 'other-version'), undefined);
    const altered = { ...entry, graph: { ...entry.graph, edges: [] } };
    await store.saveMachines!([altered]);
    assert.is((await second().machine!(entry.id, entry.hash))!.graph.edges.length, entry.graph.edges.length, 'a version kept is not replaced');
    await rejects(store.saveMachines!([{ ...entry, hash: 'v2', graph: { ...entry.graph, nodes: [] } }]), (e) => /saveMachines expected graphs in the machine graph format, found for machine "lamp" at graph.nodes/.test(String(e)), 'a malformed graph');
    assert.is(await store.machine!(entry.id, 'v2'), undefined, 'nothing of a refused batch is kept');
    const invoked = { writer: { id: entry.id, hash: entry.hash } };
    await store.createRun(header('inv', { format: 3, invoked }), summary('inv'));
    assert.equal((await second().header('inv')).invoked, invoked);
  });

  it.run();
}

const graphMachine = createMachine({ id: 'lamp', initial: 'off', states: { off: { on: { FLIP: 'on' } }, on: { on: { FLIP: 'off' } } } });

conformance('memory', memory);
conformance('sqlite', sqlite);
if (await postgresReachable()) conformance('postgres', postgres);

const open = suite('openStore');
open('opens memory, SQLite by prefix or path, and refuses unknown schemes', async () => {
  assert.instance(openStore('memory:'), MemoryStore);
  const dir = mkdtempSync(join(tmpdir(), 'statecraft-open-'));
  try {
    const byPrefix = openStore(`sqlite:${join(dir, 'a', 'runs.db')}`);
    const byPath = openStore(join(dir, 'b.db'));
    assert.instance(byPrefix, SqliteStore);
    assert.is((byPath as SqliteStore).path, join(dir, 'b.db'));
    await newRun(byPrefix, 'r1', 1);
    const again = openStore(`sqlite:${join(dir, 'a', 'runs.db')}`);
    assert.is((await again.read('r1')).length, 1);
    for (const store of [byPrefix, byPath, again]) await store.close();
    const previous = process.env.STATECRAFT_STORE;
    process.env.STATECRAFT_STORE = 'memory:';
    assert.instance(openStore(), MemoryStore);
    if (previous === undefined) delete process.env.STATECRAFT_STORE;
    else process.env.STATECRAFT_STORE = previous;
    assert.throws(() => openStore('mysql://x/y'), /unknown scheme/);
    const pgStore = openStore('postgres://postgres@127.0.0.1:5432/test?schema=elsewhere') as PostgresStore;
    assert.is(pgStore.schema, 'elsewhere');
    await pgStore.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
open('a PostgreSQL schema that does not exist is refused with mustExist, never created', async () => {
  if (!(await postgresReachable())) return;
  const schema = `absent_${process.pid}`;
  const store = openStore(`${PG_URL}?schema=${schema}`, { mustExist: true });
  try {
    const error = await store.listRuns().then(() => undefined, (caught: unknown) => caught);
    assert.instance(error, StoreNotFoundError);
    assert.match((error as Error).message, `No run store in schema "${schema}"`);
  } finally {
    await store.close();
  }
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    const { rows } = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
    assert.is(rows.length, 0, 'the schema was not created');
  } finally {
    await client.end();
  }
});
open('stores started at once on a new PostgreSQL schema all create it and write to it, none failing', async () => {
  if (!(await postgresReachable())) return;
  const schema = `sc_race_${randomBytes(6).toString('hex')}`;
  const stores = Array.from({ length: 6 }, () => new PostgresStore({ connectionString: PG_URL, schema }));
  try {
    await Promise.all(stores.map((store, i) => store.createRun(header(`race-${i}`), summary(`race-${i}`))));
    const listed = await stores[0]!.listRuns();
    assert.equal(listed.map((summary) => summary.runId).sort(), stores.map((_, i) => `race-${i}`));
  } finally {
    for (const store of stores) await store.close();
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await client.end();
  }
});
open.run();

const layout = suite('SQLite files from before the patch column');
layout('are upgraded in place and their old rows read as before', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'statecraft-layout-'));
  const path = join(dir, 'runs.db');
  try {
    // The first layout: one body per record holding the patch, and no patch column.
    const db = new Database(path);
    db.exec(`CREATE TABLE runs (run_id TEXT PRIMARY KEY, agent_id TEXT NOT NULL, status TEXT NOT NULL, parent_run_id TEXT,
      created_at TEXT NOT NULL, updated_at TEXT NOT NULL, header TEXT NOT NULL, summary TEXT NOT NULL);
      CREATE TABLE records (run_id TEXT NOT NULL, seq INTEGER NOT NULL, body BLOB NOT NULL, snapshot BLOB, PRIMARY KEY (run_id, seq));`);
    const old = records('r1', 0, 6, { keyframeEvery: 4 });
    db.prepare('INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?)').run('r1', 'agent', 'running', null, at(0), at(0), JSON.stringify(header('r1')), JSON.stringify(summary('r1', { lastSeq: 5 })));
    for (const record of old) {
      const { snapshot, runId: _runId, ...rest } = record;
      db.prepare('INSERT INTO records VALUES (?, ?, ?, ?)').run('r1', record.seq, encodeText(JSON.stringify(rest)), snapshot === undefined ? null : encodeText(JSON.stringify(snapshot)));
    }
    db.close();
    const store = new SqliteStore({ path });
    assert.equal(await store.read('r1'), old);
    assert.equal((await store.readPatches('r1')).map((entry) => entry.patch), old.map((record) => record.patch));
    assert.is((await store.readHistory('r1')).length, 6);
    for (const seq of [1, 3, 5]) assert.equal(await stateAt(store, 'r1', seq), snapshotAt(seq));
    await store.append('r1', records('r1', 6, 2), { expectedSeq: 6 });
    assert.equal(await stateAt(store, 'r1', 7), snapshotAt(7));
    await store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
layout.run();

const readOnly = suite('SQLite files that may only be read');
readOnly('readOnly opens an existing file for reads and refuses every write, saying why', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'statecraft-readonly-'));
  const path = join(dir, 'runs.db');
  try {
    const writer = new SqliteStore({ path });
    await newRun(writer, 'r1', 5);
    await writer.close();
    const store = new SqliteStore({ path, readOnly: true });
    assert.ok(store.readOnly);
    assert.equal((await store.listRuns()).map((run) => run.runId), ['r1']);
    assert.equal(await stateAt(store, 'r1', 4), snapshotAt(4));
    const writes: [string, Promise<unknown>][] = [
      ['append', store.append('r1', records('r1', 5, 1), { expectedSeq: 5 })],
      ['createRun', store.createRun(header('r2'), summary('r2'))],
      ['truncate', store.truncate('r1', 2)],
      ['deleteRun', store.deleteRun('r1')],
    ];
    for (const [name, write] of writes) {
      const error = await write.then(() => undefined, (caught: unknown) => caught);
      assert.instance(error, StorageError, name);
      assert.match((error as Error).message, `${path} is open read-only (as asked)`, name);
    }
    await store.close();
    const after = new SqliteStore({ path });
    assert.is((await after.read('r1')).length, 5, 'nothing was written');
    assert.equal((await after.listRuns()).map((run) => run.runId), ['r1']);
    await after.close();
    assert.throws(() => new SqliteStore({ path: join(dir, 'absent.db'), readOnly: true }), /Could not open the SQLite store at .*absent\.db read-only/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
readOnly('the CLI reads a store in a folder this user cannot write, and refuses to change it', async () => {
  // Root may write anything: as root, the commands run as the unprivileged user "nobody".
  const asNobody = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
  const dir = mkdtempSync(join(tmpdir(), 'statecraft-readonly-'));
  const temp = mkdtempSync(join(tmpdir(), 'statecraft-readonly-tmp-'));
  const path = join(dir, 'runs.db');
  try {
    const writer = new SqliteStore({ path });
    await newRun(writer, 'run-read-only', 3, { status: 'done', lastSeq: 2 });
    await writer.close();
    chmodSync(path, 0o444);
    chmodSync(dir, 0o555);
    // A temporary folder of its own, so that no other test's files count as copies left behind.
    chmodSync(temp, 0o777);
    const statecraft = (...args: string[]) =>
      spawnSync(process.execPath, [cli, ...args, '--store', path], { cwd: root, encoding: 'utf8', timeout: 60_000, env: { ...process.env, NO_COLOR: '1', TMPDIR: temp }, ...asNobody });
    const probe = statecraft('--help');
    if (probe.status !== 0) {
      // The checkout itself is out of that user's reach (a private home folder): the API test above covers the store.
      console.log(`  (skipped the CLI as user nobody: it cannot run the checkout at ${root})`);
      return;
    }
    const runs = statecraft('runs');
    assert.is(runs.status, 0, runs.stderr);
    assert.match(runs.stdout, 'run-read-only');
    const history = statecraft('history', 'run-read-only');
    assert.is(history.status, 0, history.stderr);
    assert.match(history.stdout, 'STEP');
    const deleted = statecraft('delete', 'run-read-only', '--yes');
    assert.is.not(deleted.status, 0);
    assert.match(deleted.stderr, `${path} is open read-only (this user cannot write the file or its folder): it cannot delete run run-read-only`);
    assert.not.ok(existsSync(`${path}-wal`), 'no file was made beside the store');
    assert.equal(readdirSync(temp), [], 'the copy read instead was removed');
    chmodSync(dir, 0o755);
    const check = new SqliteStore({ path, readOnly: true });
    assert.is((await check.read('run-read-only')).length, 3, 'the run is still there');
    await check.close();
  } finally {
    chmodSync(dir, 0o755);
    rmSync(dir, { recursive: true, force: true });
    rmSync(temp, { recursive: true, force: true });
  }
});
readOnly.run();

const colonNames = suite('openStore and names with a colon');
colonNames('refuses a name that reads as an unknown scheme, saying how to name such a file, and creates nothing', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'statecraft-colon-'));
  const cwd = process.cwd();
  try {
    process.chdir(dir);
    for (const url of ['mysql:foo', 'redis:', 'memory:extra', 'postgres:db']) {
      assert.throws(() => openStore(url), (error: Error) => error.name === 'UserError' && error.message.includes(`Store URL "${url}"`) && error.message.includes(`"sqlite:${url}" or "./${url}"`), url);
    }
    assert.throws(() => openStore('mysql:foo'), /unknown scheme "mysql:": use "memory:", "sqlite:<path>", a file path, or "postgres:\/\/…"/);
    assert.equal(readdirSync(dir), [], 'no file was created');
    const stores = [openStore('./mysql:foo'), openStore('sqlite:mysql:bar')];
    assert.equal(stores.map((store) => (store as SqliteStore).path), [join(process.cwd(), 'mysql:foo'), join(process.cwd(), 'mysql:bar')]);
    for (const store of stores) await store.close();
  } finally {
    process.chdir(cwd);
    rmSync(dir, { recursive: true, force: true });
  }
});
colonNames.run();
