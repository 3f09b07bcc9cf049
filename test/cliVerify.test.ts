// statecraft verify, signed exports, and a damaged SQLite file, as a user meets them on the command line.
import { generateKeyPairSync } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { z } from 'zod';
import { defineAgent, defineTool, SqliteStore, startRun } from '../src/index.ts';
import { decodeText, encodeText } from '../src/log/format/codec.ts';
import { scriptedModel } from '../src/testing/index.ts';
import { cliIn, root } from './fixtures/cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'statecraft-cli-verify-'));
const { statecraft } = cliIn(dir);
const dbPath = join(dir, 'runs.db');
test.after(() => rmSync(dir, { recursive: true, force: true }));

/** Records a run whose one call "ana" approves; returns its id and the seq of the approval's record. */
async function approvedRun(runId: string): Promise<number> {
  const store = new SqliteStore({ path: dbPath });
  const send = defineTool({ name: 'send', description: 'Send.', parameters: z.object({ to: z.string() }), needsApproval: true, execute: ({ to }) => `sent to ${to}` });
  const agent = defineAgent({ name: 'approved', tools: [send] });
  const model = scriptedModel([{ toolCalls: [{ id: 'c1', name: 'send', arguments: { to: 'ana@example.org' } }] }, { content: 'sent' }]);
  const run = startRun(agent, { input: 'go', model, store, runId });
  run.on((event) => event.type === 'approval.requested' && run.approve('c1', { by: 'ana' }));
  assert.is((await run.result).status, 'done');
  const seq = (await store.readHistory(runId)).find((entry) => entry.eventType === 'APPROVE')!.seq;
  await store.close();
  return seq;
}

/** Rewrites a record's stored body through `edit`, leaving its stored checksum as it was: an edit made with SQL. */
function editBody(runId: string, seq: number, edit: (body: Record<string, unknown>) => void): void {
  const db = new Database(dbPath);
  const row = db.prepare<[string, number], { body: Uint8Array }>('SELECT body FROM records WHERE run_id = ? AND seq = ?').get(runId, seq)!;
  const body = JSON.parse(decodeText(row.body)) as Record<string, unknown>;
  edit(body);
  db.prepare('UPDATE records SET body = ? WHERE run_id = ? AND seq = ?').run(encodeText(JSON.stringify(body)), runId, seq);
  db.close();
}

test('verify: an intact run exits 0; an approval changed in the store is named by its seq, exits 1, and the run is not exported', async () => {
  const seq = await approvedRun('verify01');
  const intact = await statecraft(['verify', 'verify01']);
  assert.is(intact.code, 0, intact.out);
  assert.match(intact.out, 'Run verify01: intact.');
  assert.match(intact.out, 'record 0 to the header');
  editBody('verify01', seq, (body) => ((body.event as { by: string }).by = 'mallory'));
  const altered = await statecraft(['verify', 'verify01']);
  assert.is(altered.code, 1, altered.out);
  assert.match(altered.out, `Run verify01: record ${seq} does not hold the checksum it was written with`);
  assert.match(altered.out, `Records 0 to ${seq - 1} are as they were written.`);
  assert.match(altered.out, 'Restore the run from a backup or a signed export');
  const json = await statecraft(['verify', 'verify01', '--json']);
  assert.is(json.code, 1);
  const report = JSON.parse(json.stdout) as { chained: boolean; problems: { seq: number; problem: string }[] };
  assert.equal([report.chained, report.problems.map((problem) => [problem.seq, problem.problem])], [true, [[seq, 'altered']]]);
  const exported = await statecraft(['export', 'verify01']);
  assert.is(exported.code, 1, exported.out);
  assert.match(exported.out, `Export of run "verify01" stopped: record ${seq} does not hold the checksum it was written with`);
  const help = await statecraft(['verify', '--help']);
  assert.match(help.out, 'Exit status: 0 when intact, 1 when damaged or altered');
  assert.match(help.out, 'What it proves: without a key');
});

test('a signed export checks out with --verify-key on verify and import, and is refused with another key or once changed', async () => {
  await approvedRun('signed01');
  const keys = generateKeyPairSync('ed25519');
  const pem = (key: typeof keys.privateKey, type: 'pkcs8' | 'spki') => key.export({ type, format: 'pem' }) as string;
  writeFileSync(join(dir, 'signing.pem'), pem(keys.privateKey, 'pkcs8'));
  writeFileSync(join(dir, 'signing.pub.pem'), pem(keys.publicKey, 'spki'));
  writeFileSync(join(dir, 'other.pub.pem'), pem(generateKeyPairSync('ed25519').publicKey, 'spki'));
  const file = join(dir, 'signed.jsonl');
  const exported = await statecraft(['export', 'signed01', '--out', file, '--sign-key', join(dir, 'signing.pem')]);
  assert.is(exported.code, 0, exported.out);
  const good = await statecraft(['verify', '--file', file, '--verify-key', join(dir, 'signing.pub.pem')]);
  assert.is(good.code, 0, good.out);
  assert.match(good.out, 'is signed by key');
  assert.match(good.out, 'the key given: no line was changed, added or removed since it was signed');
  const other = await statecraft(['verify', '--file', file, '--verify-key', join(dir, 'other.pub.pem')]);
  assert.is(other.code, 1, other.out);
  assert.match(other.out, 'the signature does not hold for the key given');
  const changed = join(dir, 'changed.jsonl');
  writeFileSync(changed, readFileSync(file, 'utf8').replace('"by":"ana"', '"by":"bob"'));
  const refused = await statecraft(['import', changed, '--as', 'copy01', '--verify-key', join(dir, 'signing.pub.pem')]);
  assert.is(refused.code, 1, refused.out);
  assert.match(refused.out, 'Import refused at line');
  const imported = await statecraft(['import', file, '--as', 'copy02', '--verify-key', join(dir, 'signing.pub.pem')]);
  assert.is(imported.code, 0, imported.out);
  assert.match(imported.out, 'Imported copy02');
  const wrongKey = await statecraft(['export', 'signed01', '--sign-key', join(dir, 'signing.pub.pem')]);
  assert.is(wrongKey.code, 2, wrongKey.out);
  assert.match(wrongKey.out, 'is not a private key in PEM');
});

test('a damaged SQLite file is a StorageError naming the file and what to do, for every command, never a stack trace', async () => {
  await approvedRun('pages001');
  const elsewhere = mkdtempSync(join(dir, 'damaged-'));
  const damaged = join(elsewhere, 'runs.db');
  copyFileSync(dbPath, damaged);
  const bytes = readFileSync(damaged);
  // Every page after the first (the file header) is overwritten: SQLite finds its b-trees malformed.
  for (let i = 4096; i < bytes.length; i++) bytes[i] = (bytes[i]! * 7 + 13) & 0xff;
  writeFileSync(damaged, bytes);
  const good = join(root, 'test/fixtures/logs/good.jsonl');
  const commands = [['runs'], ['history', 'pages001'], ['show', 'pages001'], ['export', 'pages001'], ['verify', 'pages001'], ['repair', 'pages001'], ['delete', 'pages001', '--yes'], ['import', good]];
  const onDamaged = cliIn(elsewhere).statecraft;
  for (const args of commands) {
    const result = await onDamaged(args);
    assert.is.not(result.code, 0, `${args[0]}: ${result.out}`);
    assert.match(result.out, `StorageError: The SQLite store at ${damaged} is damaged`, args[0]);
    assert.match(result.out, 'Restore the file from a backup', args[0]);
    assert.not.match(result.out, /\n\s+at /, `${args[0]} prints no stack trace`);
  }
});

test.run();
