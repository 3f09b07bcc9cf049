// statecraft repair: cuts a damaged tail only, never intact records, and leaves a run that tells the truth and resumes.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import Database from 'better-sqlite3';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { z } from 'zod';
import { defineAgent, defineTool, resumeRun, runAgent, SqliteStore } from '../src/index.ts';
import { decodeText, encodeText } from '../src/log/format/codec.ts';
import { scriptedModel } from '../src/testing/index.ts';
import { cliIn } from './fixtures/cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'statecraft-cli-repair-'));
const { statecraft } = cliIn(dir);
const dbPath = join(dir, 'runs.db');

/** An agent that notes `rounds` things with a tool, then answers: four records a round, 22 records for five rounds. */
function notesAgent(rounds: number, called: string[] = []) {
  const note = defineTool({
    name: 'note',
    description: 'Keep a note.',
    parameters: z.object({ text: z.string() }),
    execute: async ({ text }) => (called.push(text), `noted ${text}`),
  });
  const model = scriptedModel((index) =>
    index < rounds ? { toolCalls: [{ name: 'note', arguments: { text: `n${index}` } }], usage: { inputTokens: 10, outputTokens: 2 } } : { content: 'all noted', usage: { inputTokens: 10, outputTokens: 2 } },
  );
  return defineAgent({ name: 'notes', model, tools: [note] });
}

async function recordRun(runId: string, rounds = 5): Promise<void> {
  const store = new SqliteStore({ path: dbPath });
  try {
    const result = await runAgent(notesAgent(rounds), 'go', { store, runId });
    assert.is(result.status, 'done');
  } finally {
    await store.close();
  }
}

function withDb<T>(use: (db: Database.Database) => T): T {
  const db = new Database(dbPath);
  try {
    return use(db);
  } finally {
    db.close();
  }
}

const seqs = (runId: string): number[] => withDb((db) => db.prepare<[string], { seq: number }>('SELECT seq FROM records WHERE run_id = ? ORDER BY seq').all(runId).map((row) => row.seq));

/** Flips one bit in the middle of a stored column of a record, as a bad disk would. */
function flipByte(runId: string, seq: number, column: 'body' | 'snapshot' = 'body'): void {
  withDb((db) => {
    const row = db.prepare<[string, number], Record<string, Uint8Array>>(`SELECT ${column} AS data FROM records WHERE run_id = ? AND seq = ?`).get(runId, seq);
    const bytes = Buffer.from(row!.data!);
    bytes[Math.floor(bytes.length / 2)]! ^= 0x10;
    db.prepare(`UPDATE records SET ${column} = ? WHERE run_id = ? AND seq = ?`).run(bytes, runId, seq);
  });
}

/** Rewrites the body of a record through `edit` of its parsed JSON. */
function editBody(runId: string, seq: number, edit: (body: Record<string, unknown>) => void): void {
  withDb((db) => {
    const row = db.prepare<[string, number], { body: Uint8Array }>('SELECT body FROM records WHERE run_id = ? AND seq = ?').get(runId, seq);
    const body = JSON.parse(decodeText(row!.body)) as Record<string, unknown>;
    edit(body);
    db.prepare('UPDATE records SET body = ? WHERE run_id = ? AND seq = ?').run(encodeText(JSON.stringify(body)), runId, seq);
  });
}

const lastSeqOf = (runId: string): number => seqs(runId).at(-1)!;

test('a flipped byte mid-run is reported and nothing is deleted, even with --yes', async () => {
  await recordRun('middle01');
  const before = seqs('middle01');
  assert.is(before.length, 22);
  flipByte('middle01', 7);
  for (const args of [['repair', 'middle01'], ['repair', 'middle01', '--yes']]) {
    const repair = await statecraft(args);
    assert.is(repair.code, 1, repair.out);
    assert.match(repair.out, 'record 7 is damaged');
    assert.match(repair.out, 'records 8 to 21 after it are intact');
    assert.match(repair.out, /statecraft fork middle01 --at [56]\b/);
    assert.not.match(repair.out, /Removed|record -1|undefined/);
    assert.equal(seqs('middle01'), before, `${args.join(' ')} deleted nothing`);
  }
  // The advice names the last good record, or the one before the tool call running there.
  const at = /statecraft fork middle01 --at (\d+)/.exec((await statecraft(['repair', 'middle01'])).out)![1]!;
  const fork = await statecraft(['fork', 'middle01', '--at', at]);
  assert.is(fork.code, 0, `the advice works: ${fork.out}`);
});

test('damage in record 0 is refused: the run cannot be rebuilt from its own log', async () => {
  await recordRun('first001', 1);
  flipByte('first001', 0, 'snapshot');
  const before = seqs('first001');
  const repair = await statecraft(['repair', 'first001', '--yes']);
  assert.is(repair.code, 1, repair.out);
  assert.match(repair.out, 'record 0');
  assert.match(repair.out, 'cannot be recovered from its own log');
  assert.match(repair.out, 'statecraft delete first001');
  assert.not.match(repair.out, /record -1|undefined/);
  assert.equal(seqs('first001'), before);
});

test('a record of a newer format version is not damage: repair says to upgrade and deletes nothing', async () => {
  await recordRun('newer001', 1);
  const last = lastSeqOf('newer001');
  editBody('newer001', last, (body) => (body.v = 99));
  const before = seqs('newer001');
  const repair = await statecraft(['repair', 'newer001', '--yes']);
  assert.is(repair.code, 1, repair.out);
  assert.match(repair.out, 'format version 99');
  assert.match(repair.out, 'upgrade Statecraft');
  assert.equal(seqs('newer001'), before);
});

/** Rewrites the stored bytes of a record's body through `edit`. */
function editBytes(runId: string, seq: number, edit: (bytes: Buffer) => Buffer): void {
  withDb((db) => {
    const row = db.prepare<[string, number], { body: Uint8Array }>('SELECT body FROM records WHERE run_id = ? AND seq = ?').get(runId, seq);
    db.prepare('UPDATE records SET body = ? WHERE run_id = ? AND seq = ?').run(edit(Buffer.from(row!.body)), runId, seq);
  });
}

test('a record in an encoding this build does not know is reported as such, not as damage', async () => {
  await recordRun('codec001', 1);
  const last = lastSeqOf('codec001');
  // As a later codec writes it: its first byte, then a CRC-32 over that byte and the data.
  editBytes('codec001', last, (bytes) => {
    const payload = Buffer.from(decodeText(bytes));
    const later = Buffer.concat([Buffer.from([0x03, 0, 0, 0, 0]), payload]);
    later.writeUInt32BE(crc32(payload, crc32(later.subarray(0, 1))), 1);
    return later;
  });
  const before = seqs('codec001');
  const repair = await statecraft(['repair', 'codec001', '--yes']);
  assert.is(repair.code, 1, repair.out);
  assert.match(repair.out, 'encoding 0x3');
  assert.match(repair.out, 'upgrade Statecraft');
  assert.not.match(repair.out, /cut short|torn/);
  assert.equal(seqs('codec001'), before);
});

test('a damaged first byte of the last record is damage: history lists the others and names it, repair --yes cuts it', async () => {
  await recordRun('byte0001', 1);
  const last = lastSeqOf('byte0001');
  editBytes('byte0001', last, (bytes) => {
    bytes[0]! ^= 0x40;
    return bytes;
  });
  const history = await statecraft(['history', 'byte0001']);
  assert.is(history.code, 1, history.out);
  assert.match(history.out, `record ${last} cannot be read`);
  assert.not.match(history.out, /upgrade Statecraft|newer format/);
  assert.match(history.out, 'statecraft repair byte0001');
  const exported = await statecraft(['export', 'byte0001']);
  assert.is(exported.code, 1, exported.out);
  assert.match(exported.out, `record ${last}`);
  assert.not.match(exported.out, 'upgrade Statecraft');
  const repair = await statecraft(['repair', 'byte0001', '--yes']);
  assert.is(repair.code, 0, repair.out);
  assert.match(repair.out, `Removed 1 record(s) from byte0001; it now ends at record ${last - 1}`);
  assert.equal(seqs('byte0001'), Array.from({ length: last }, (_, seq) => seq));
});

test('a torn tail is cut, and the summary then describes the state the run ends in, so it resumes', async () => {
  await recordRun('tail0001', 2);
  const last = lastSeqOf('tail0001');
  flipByte('tail0001', last);
  flipByte('tail0001', last - 1);
  const dry = await statecraft(['repair', 'tail0001']);
  assert.is(dry.code, 1, dry.out);
  assert.match(dry.out, `records ${last - 1} to ${last}`);
  assert.match(dry.out, '--yes');
  assert.equal(seqs('tail0001').length, last + 1, 'nothing removed without --yes');
  const repair = await statecraft(['repair', 'tail0001', '--yes']);
  assert.is(repair.code, 0, repair.out);
  assert.match(repair.out, `it now ends at record ${last - 2}`);
  assert.equal(seqs('tail0001'), Array.from({ length: last - 1 }, (_, i) => i));
  const runs = await statecraft(['runs', '--json']);
  const summary = (JSON.parse(runs.stdout) as Record<string, unknown>[]).find((run) => run.runId === 'tail0001')!;
  assert.is(summary.lastSeq, last - 2);
  assert.is(summary.status, 'running', 'the run no longer claims to be done');
  assert.is(summary.reason, undefined);
  assert.is(summary.steps, 2);
  assert.is(summary.truncations, 1);
  const again = await statecraft(['repair', 'tail0001']);
  assert.is(again.code, 0, again.out);
  assert.match(again.out, 'intact');

  const called: string[] = [];
  const store = new SqliteStore({ path: dbPath });
  try {
    const run = await resumeRun(notesAgent(0, called), 'tail0001', { store });
    const result = await run.result;
    assert.is(result.status, 'done');
  } finally {
    await store.close();
  }
});

test('a gap in the seqs mid-run is reported and nothing is deleted', async () => {
  await recordRun('gap00001', 2);
  withDb((db) => db.prepare('DELETE FROM records WHERE run_id = ? AND seq = ?').run('gap00001', 4));
  const before = seqs('gap00001');
  const repair = await statecraft(['repair', 'gap00001', '--yes']);
  assert.is(repair.code, 1, repair.out);
  assert.match(repair.out, 'record 4 is missing');
  assert.match(repair.out, 'statecraft fork gap00001 --at 3');
  assert.equal(seqs('gap00001'), before);
});

test('a patch that does not apply is found by replaying the log, and refused when intact records follow', async () => {
  await recordRun('patch001', 2);
  const patch = [{ op: 'remove', path: '/context/nowhere' }];
  withDb((db) => db.prepare('UPDATE records SET patch = ? WHERE run_id = ? AND seq = ?').run(encodeText(JSON.stringify(patch)), 'patch001', 3));
  const before = seqs('patch001');
  const repair = await statecraft(['repair', 'patch001', '--yes']);
  assert.is(repair.code, 1, repair.out);
  assert.match(repair.out, 'record 3 has a patch that does not apply');
  assert.equal(seqs('patch001'), before);
});

test('show on a run with no records says so, without "-1" or "undefined"', async () => {
  const store = new SqliteStore({ path: dbPath });
  const now = new Date().toISOString();
  const header = { format: 1 as const, runId: 'empty001', agent: { id: 'notes', version: '1' }, machine: { id: 'm', hash: 'h' }, model: { provider: 'p', model: 'm', params: {} }, createdAt: now };
  await store.createRun(header, { runId: 'empty001', agentId: 'notes', status: 'running', steps: 0, inputTokens: 0, outputTokens: 0, costUsd: 0, lastSeq: -1, createdAt: now, updatedAt: now });
  await store.close();
  for (const args of [['show', 'empty001'], ['show', 'empty001', '--at', '0'], ['repair', 'empty001']]) {
    const shown = await statecraft(args);
    assert.match(shown.out, 'no records', shown.out);
    assert.not.match(shown.out, /-1|undefined/, args.join(' '));
  }
});

test('a damaged summary is flagged by runs, which lists the others, and repair rebuilds it from the log', async () => {
  await recordRun('summary1', 1);
  await recordRun('summary2', 1);
  await recordRun('summary3', 1);
  withDb((db) => {
    db.prepare('UPDATE runs SET summary = ? WHERE run_id = ?').run('{"runId": "summary1", "stat', 'summary1');
    db.prepare('UPDATE runs SET summary = ? WHERE run_id = ?').run('{"runId": 5}', 'summary2');
  });
  const runs = await statecraft(['runs']);
  assert.is(runs.code, 0, runs.out);
  assert.not.match(runs.out, 'SyntaxError');
  assert.match(runs.out, 'summary3');
  assert.match(runs.out, /summary1 .*summary cannot be read: npx statecraft repair summary1/);
  assert.match(runs.out, /summary2 .*summary cannot be read: npx statecraft repair summary2/);
  const show = await statecraft(['show', 'summary1']);
  assert.match(show.out, /CorruptRecordError: Run "summary1" summary cannot be read .*statecraft repair summary1/);
  const history = await statecraft(['history', 'summary1']);
  assert.is(history.code, 0, history.out);
  const repair = await statecraft(['repair', 'summary1', '--yes']);
  assert.is(repair.code, 0, repair.out);
  assert.match(repair.out, 'summary');
  const after = await statecraft(['runs', '--json']);
  const rebuilt = (JSON.parse(after.stdout) as Record<string, unknown>[]).find((run) => run.runId === 'summary1')!;
  assert.is(rebuilt.status, 'done');
  assert.is(rebuilt.lastSeq, lastSeqOf('summary1'));
  assert.is(rebuilt.steps, 2);
  const removed = await statecraft(['delete', 'summary2', '--yes']);
  assert.is(removed.code, 0, removed.out);
  assert.equal(seqs('summary2'), []);
});

test('repair --help says what it does not do', async () => {
  const help = await statecraft(['repair', '--help']);
  assert.match(help.out, 'never removes an intact record');
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test('history lists the records it can read around a damaged one, names it, and exits 1', async () => {
  await recordRun('hist0001');
  flipByte('hist0001', 7);
  const history = await statecraft(['history', 'hist0001']);
  assert.is(history.code, 1, history.out);
  assert.match(history.out, /^6 /m);
  assert.match(history.out, /^7 +- +\(damaged\)/m);
  assert.match(history.out, /^21 /m, 'the records after the damaged one are listed too');
  assert.match(history.out, 'record 7 cannot be read; the others are listed');
});

test.run();
