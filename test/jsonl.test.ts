import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { z } from 'zod';
import { defineAgent, defineTool, startRun } from '../src/index.ts';
import { chainedChecksum } from '../src/log/format/chain.ts';
import { linesDigest } from '../src/log/exchange/exportTrailer.ts';
import { verifyExport } from '../src/log/reads/verifyRun.ts';
import { sealRecord, type RunRecord } from '../src/log/format/record.ts';
import { SqliteStore } from '../src/log/stores/sqlite/sqliteStore.ts';
import { scriptedModel } from '../src/testing/index.ts';
import { cliIn } from './fixtures/cli.ts';
import { rejection } from './fixtures/helpers.ts';
import { exportRun, exportRunText, importRun } from '../src/log/exchange/jsonl.ts';
import { MemoryStore } from '../src/log/stores/memoryStore.ts';
import { stateAt } from '../src/log/reads/reads.ts';
import { makeRecord } from '../src/log/format/makeRecord.ts';
import { normalize } from '../src/log/format/patch.ts';
import { CorruptRecordError, RunExistsError, UnsafePatchError, UnsupportedFormatError } from '../src/log/format/storageErrors.ts';

const dir = mkdtempSync(join(tmpdir(), 'statecraft-jsonl-'));
let n = 0;
const dbPath = () => join(dir, `runs-${n++}.db`);
test.after(() => rmSync(dir, { recursive: true, force: true }));

const fixture = (name: string): string => readFileSync(new URL(`./fixtures/logs/${name}`, import.meta.url), 'utf8');

async function refusal(text: string): Promise<Error> {
  const store = new MemoryStore();
  try {
    await importRun(store, text);
  } catch (error) {
    assert.equal(await store.listRuns(), [], 'nothing is stored from a refused import');
    return error as Error;
  }
  throw new Error('expected the import to be refused');
}

test('the good fixture imports, and its state at each seq is what the machine produced', async () => {
  const store = new MemoryStore();
  const summary = await importRun(store, fixture('good.jsonl'));
  assert.equal([summary.runId, summary.status, summary.lastSeq, summary.inputTokens], ['fixture-run-1', 'done', 4, 100]);
  const final = (await stateAt(store, 'fixture-run-1', 4)) as { status: string; output: unknown; context: { messages: string[] } };
  assert.equal(final.status, 'done');
  assert.equal(final.output, { count: 3 });
  assert.equal(final.context.messages, ['hello', 'path a/b and ~tilde', 'third']);
  assert.equal(((await stateAt(store, 'fixture-run-1', 1)) as { context: unknown }).context, { messages: ['hello'], pending: 'hello' });
});

test('export then import reproduces the run byte for byte', async () => {
  const store = new MemoryStore();
  await importRun(store, fixture('good.jsonl'));
  const text = await exportRunText(store, 'fixture-run-1');
  // The fixture was written before headers carried a checksum: the store seals its header, nothing else changes.
  const [head, ...rest] = text.trimEnd().split('\n');
  const [fixtureHead, ...fixtureRest] = fixture('good.jsonl').trimEnd().split('\n');
  assert.equal(rest.slice(0, -1), fixtureRest, 'the records and the summary, then the trailer');
  assert.match(rest.at(-1)!, /^\{"trailer":\{"records":5,"sha256":"[0-9a-f]{64}"\}\}$/);
  const { checksum, ...fields } = JSON.parse(head!) as Record<string, unknown>;
  assert.equal(fields, JSON.parse(fixtureHead!));
  assert.type(checksum, 'string');
  const again = new MemoryStore();
  await importRun(again, text);
  assert.is(await exportRunText(again, 'fixture-run-1'), text);
  const lines: string[] = [];
  for await (const line of exportRun(store, 'fixture-run-1')) lines.push(line);
  assert.is(lines.length, 8);
  await importRun(store, fixture('good.jsonl')).then(
    () => assert.unreachable('same id twice'),
    (error: unknown) => assert.instance(error, RunExistsError),
  );
});

test('import under a new run id re-seals every record for that id', async () => {
  const store = new MemoryStore();
  const summary = await importRun(store, fixture('good.jsonl'), { newRunId: 'copy-1' });
  assert.is(summary.runId, 'copy-1');
  const records = await store.read('copy-1');
  assert.ok(records.every((record) => record.runId === 'copy-1'));
  assert.is((await store.header('copy-1')).runId, 'copy-1');
  assert.equal(await stateAt(store, 'copy-1', 4), await (async () => {
    const other = new MemoryStore();
    await importRun(other, fixture('good.jsonl'));
    return stateAt(other, 'fixture-run-1', 4);
  })());
});

test('an imported run gets its own state index, rebuilt from the records', async () => {
  const source = new MemoryStore();
  const time = '2025-01-01T00:00:00.000Z';
  await source.createRun(
    { format: 1, runId: 'long', agent: { id: 'a', version: '1' }, machine: { id: 'm', hash: 'h' }, model: { provider: 'p', model: 'm', params: {} }, createdAt: time },
    { runId: 'long', agentId: 'a', status: 'done', steps: 0, inputTokens: 0, outputTokens: 0, costUsd: 0, lastSeq: -1, createdAt: time, updatedAt: time },
  );
  let items: Array<{ n: number }> = [];
  const live = Array.from({ length: 300 }, (_, seq) => ({ context: { items: (items = [...items, { n: seq }]) } }));
  const records = live.map((snapshot, seq) => makeRecord({ runId: 'long', seq, time, event: { type: 'STEP' }, state: 's', previous: live[seq - 1], snapshot }));
  await source.append('long', records, { expectedSeq: 0 });
  assert.is(await source.statePointSeqAtOrBefore('long', 299), -1, 'written without an index');
  const target = new MemoryStore();
  await importRun(target, await exportRunText(source, 'long'));
  assert.is(await target.statePointSeqAtOrBefore('long', 299), 256);
  for (const seq of [299, 256, 200, 130, 64, 1]) assert.equal(await stateAt(target, 'long', seq), normalize(live[seq]), `seq ${seq}`);
});

test('a torn tail is refused at its line number', async () => {
  const error = await refusal(fixture('torn-tail.jsonl'));
  assert.instance(error, CorruptRecordError);
  assert.match(error.message, 'Import refused at line 6');
  assert.match(error.message, 'cut short');
});

test('a flipped byte is refused by checksum at its line number', async () => {
  const error = await refusal(fixture('flipped-byte.jsonl'));
  assert.instance(error, CorruptRecordError);
  assert.match(error.message, 'Import refused at line 4: Run "fixture-run-1" record 2 fails its checksum');
});

test('an unknown format version is refused, asking for an upgrade', async () => {
  const error = await refusal(fixture('unknown-version.jsonl'));
  assert.instance(error, UnsupportedFormatError);
  assert.match(error.message, 'line 1');
  assert.match(error.message, 'format version 2');
  assert.match(error.message, 'upgrade Statecraft');
});

test('a __proto__ patch path is refused and pollutes nothing', async () => {
  const error = await refusal(fixture('proto-patch.jsonl'));
  assert.instance(error, UnsafePatchError);
  assert.match(error.message, 'line 4');
  assert.match(error.message, '/__proto__/polluted');
  assert.is(({} as Record<string, unknown>).polluted, undefined);
});

test('records out of order or a summary that disagrees are refused', async () => {
  const lines = fixture('good.jsonl').trimEnd().split('\n');
  const swapped = [lines[0], lines[1], lines[3], lines[2], ...lines.slice(4)].join('\n');
  assert.match((await refusal(swapped)).message, 'line 3');
  const noSummary = lines.slice(0, 4).join('\n');
  const store = new MemoryStore();
  const summary = await importRun(store, noSummary, { partial: true });
  assert.equal([summary.status, summary.lastSeq, summary.steps, summary.inputTokens], ['running', 2, 2, 30], 'an active machine after two model turns');
  assert.match((await refusal([...lines.slice(0, 4), lines.at(-1)].join('\n'))).message, 'last seq is 4');
});

/** good.jsonl with line `line` (1-based) changed by `change`. */
const editedFixture = (line: number, change: (json: Record<string, unknown>) => unknown): string => {
  const lines = fixture('good.jsonl').trimEnd().split('\n');
  lines[line - 1] = JSON.stringify(change(JSON.parse(lines[line - 1]!) as Record<string, unknown>));
  return `${lines.join('\n')}\n`;
};

test('export of a run being appended to writes the summary of the records it wrote, and the file imports', async () => {
  const store = new SqliteStore({ path: dbPath() });
  await importRun(store, fixture('good.jsonl'));
  const final = await stateAt(store, 'fixture-run-1', 4);
  const read = store.read.bind(store);
  let appended = false;
  store.read = async (runId, range) => {
    const records = await read(runId, range);
    if (!appended) {
      appended = true;
      const note = makeRecord({ runId, seq: 5, event: { type: 'note' }, state: 'done', previous: final, snapshot: final });
      await store.append(runId, [note], { expectedSeq: 5 });
    }
    return records;
  };
  const text = await exportRunText(store, 'fixture-run-1');
  assert.is((await store.summary('fixture-run-1')).lastSeq, 5, 'a record was appended during the export');
  const copy = new SqliteStore({ path: dbPath() });
  const summary = await importRun(copy, text);
  assert.equal([summary.lastSeq, summary.status], [4, 'done']);
  await store.close();
  await copy.close();
});

test('export of a run with a missing record fails naming the run and the seq, and writes no file', async () => {
  const cliDir = mkdtempSync(join(dir, 'cli-'));
  const { storeUrl, statecraft } = cliIn(cliDir);
  const path = storeUrl.slice('sqlite:'.length);
  const store = new SqliteStore({ path });
  await importRun(store, fixture('good.jsonl'));
  await store.close();
  const db = new Database(path);
  db.prepare('DELETE FROM records WHERE run_id = ? AND seq = 2').run('fixture-run-1');
  db.close();
  const reopened = new SqliteStore({ path });
  const error = (await rejection(exportRunText(reopened, 'fixture-run-1'))) as Error;
  await reopened.close();
  assert.instance(error, CorruptRecordError);
  assert.match(error.message, 'Export of run "fixture-run-1" stopped: record 2 is missing');
  assert.match(error.message, 'statecraft fork fixture-run-1 --at 1');
  const out = join(cliDir, 'out.jsonl');
  const exported = await statecraft(['export', 'fixture-run-1', '--out', out]);
  assert.is.not(exported.code, 0, exported.out);
  assert.match(exported.out, 'record 2 is missing');
  assert.not.ok(existsSync(out), 'no file that import would refuse');
});

test('import works the summary out from the records: a summary line contradicting them is refused, its counts are not taken', async () => {
  const running = await refusal(editedFixture(7, (line) => ({ summary: { ...(line.summary as object), status: 'running' } })));
  assert.match(running.message, 'Import refused at line 7 (summary of run "fixture-run-1"): the summary line says the run\'s status is running, but its records end in status done');
  assert.match(running.message, 'remove the summary line');
  const store = new SqliteStore({ path: dbPath() });
  const inflated = await importRun(store, editedFixture(7, (line) => ({ summary: { ...(line.summary as object), inputTokens: 1_000_189, steps: 99 } })));
  assert.equal([inflated.status, inflated.steps, inflated.inputTokens, inflated.outputTokens], ['done', 4, 100, 12]);
  await store.close();
});

test('an agent run imported without its summary line gets the steps, tokens, cost and status of its last state', async () => {
  const store = new SqliteStore({ path: dbPath() });
  const agent = defineAgent({ name: 'jsonl-agent', limits: { maxSteps: 5 } });
  const run = startRun(agent, { input: 'go', model: scriptedModel([{ content: 'hello', usage: { inputTokens: 7, outputTokens: 5 } }]), store });
  await run.result;
  const original = await store.summary(run.runId);
  const lines = (await exportRunText(store, run.runId)).trimEnd().split('\n');
  const copy = new SqliteStore({ path: dbPath() });
  // Without its summary line (and the trailer, which covers it), the file is imported as cut short.
  const imported = await importRun(copy, lines.slice(0, -2).join('\n'), { partial: true });
  const facts = (summary: typeof original) => [summary.status, summary.steps, summary.inputTokens, summary.outputTokens, summary.costUsd, summary.lastSeq];
  assert.equal(facts(imported), facts(original));
  const recordLines = lines.filter((line) => !line.startsWith('{"machine"'));
  assert.equal(facts(imported), ['done', 1, 7, 5, original.costUsd, recordLines.length - 4]);
  await store.close();
  await copy.close();
});

test('a re-sealed record whose patch does not apply is refused at its line and seq, storing nothing', async () => {
  const text = editedFixture(4, ({ checksum: _checksum, ...record }) =>
    sealRecord({ ...(record as unknown as RunRecord), patch: [{ op: 'replace', path: '/context/missing', value: 1 }] }),
  );
  const error = await refusal(text);
  assert.instance(error, CorruptRecordError);
  assert.match(error.message, 'Import refused at line 4: Run "fixture-run-1" record 2 has a patch that does not apply to the state before it');
  assert.match(error.message, 'remove line 4 and every line after it');
  const store = new SqliteStore({ path: dbPath() });
  await rejection(importRun(store, text));
  assert.equal(await store.listRuns(), [], 'nothing is stored');
  await store.close();
});

test('import errors speak of the file: its line, run and seq, and what to do with it', async () => {
  const torn = await refusal(fixture('torn-tail.jsonl'));
  assert.match(torn.message, 'Import refused at line 6 (run "fixture-run-1" record 4): the line is not valid JSON');
  assert.match(torn.message, 'remove that line to import records 0 to 3 (with --partial), or export the run again');
  const flipped = await refusal(fixture('flipped-byte.jsonl'));
  assert.not.match(flipped.message, 'statecraft repair', 'the run is not in the store to repair');
  assert.match(flipped.message, 'export the run again from its store, or remove line 4 and every line after it to import the records before it (with --partial)');
});

test('an import whose records cannot be written leaves no run behind', async () => {
  const store = new SqliteStore({ path: dbPath() });
  store.append = async () => {
    throw new Error('disk full');
  };
  const error = (await rejection(importRun(store, fixture('good.jsonl')))) as Error;
  assert.is(error.message, 'disk full');
  assert.equal(await store.listRuns(), []);
  await store.close();
});

test('a header line altered in an exported file is refused by its checksum', async () => {
  const store = new MemoryStore();
  await importRun(store, fixture('good.jsonl'));
  const [head, ...rest] = (await exportRunText(store, 'fixture-run-1')).split('\n');
  const altered = JSON.parse(head!) as { agent: { id: string } };
  altered.agent.id = 'someone-else';
  const error = await importRun(new MemoryStore(), [JSON.stringify(altered), ...rest].join('\n')).then(() => undefined, (caught: unknown) => caught);
  assert.ok(error instanceof Error && /header fails its checksum/.test(error.message), String(error));
});

/** A run of an agent whose one call was approved by "ana", exported (signed with `signingKey` when given), as lines. */
async function approvedExport(options: { signingKey?: ReturnType<typeof generateKeyPairSync>['privateKey'] } = {}): Promise<string[]> {
  const store = new MemoryStore();
  const send = defineTool({ name: 'send', description: 'Send.', parameters: z.object({ to: z.string() }), needsApproval: true, execute: ({ to }) => `sent to ${to}` });
  const agent = defineAgent({ name: 'approved', tools: [send] });
  const model = scriptedModel([{ toolCalls: [{ id: 'c1', name: 'send', arguments: { to: 'ana@example.org' } }] }, { content: 'sent' }]);
  const run = startRun(agent, { input: 'go', model, store });
  run.on((event) => event.type === 'approval.requested' && run.approve('c1', { by: 'ana' }));
  assert.is((await run.result).status, 'done');
  return (await exportRunText(store, run.runId, options)).trimEnd().split('\n');
}

/** The lines with a trailer worked out again over them, as anyone who can run Statecraft could. */
const retrailed = (lines: string[]): string => {
  const body = lines.slice(0, -1);
  const records = body.filter((line) => line.startsWith('{"v"')).length;
  return [...body, JSON.stringify({ trailer: { records, sha256: linesDigest(body) } })].join('\n');
};

test('an export cut at a line boundary is refused as cut short; --partial imports the records it holds', async () => {
  const lines = await approvedExport();
  for (const cut of [lines.length - 1, lines.length - 2, 5]) {
    const error = await refusal(lines.slice(0, cut).join('\n'));
    assert.instance(error, CorruptRecordError);
    assert.match(error.message, `ends at line ${cut} without the trailer`);
    assert.match(error.message, 'cut short');
    assert.match(error.message, '--partial');
  }
  const store = new MemoryStore();
  const partial = await importRun(store, lines.slice(0, 5).join('\n'), { partial: true });
  assert.is(partial.lastSeq, 3, 'the four records the file holds');
});

test('an export from before trailers, cut at a line boundary, is refused as cut short: every export ends with its summary line', async () => {
  // good.jsonl is an export of a format that wrote no trailer: its summary line is what ends it.
  const lines = fixture('good.jsonl').trimEnd().split('\n');
  assert.ok(lines.at(-1)!.startsWith('{"summary"'));
  for (const cut of [lines.length - 1, lines.length - 2, 3]) {
    const error = await refusal(lines.slice(0, cut).join('\n'));
    assert.instance(error, CorruptRecordError);
    assert.match(error.message, `ends at line ${cut} without the summary line`);
    assert.match(error.message, 'cut short');
    assert.match(error.message, '--partial');
  }
  const partial = await importRun(new MemoryStore(), lines.slice(0, 4).join('\n'), { partial: true });
  assert.is(partial.lastSeq, 2, 'the three records the file holds');
  assert.is((await importRun(new MemoryStore(), lines.join('\n'))).status, 'done', 'the whole file imports');
});

test('an import beginning with a UTF-8 byte-order mark is read as the same file without it', async () => {
  const store = new MemoryStore();
  const summary = await importRun(store, `\uFEFF${fixture('good.jsonl')}`);
  assert.equal([summary.runId, summary.status, summary.lastSeq], ['fixture-run-1', 'done', 4]);
  const lines = await approvedExport();
  assert.is((await importRun(new MemoryStore(), `\uFEFF${lines.join('\r\n')}\r\n`)).status, 'done', 'and CRLF line ends');
});

test('an approval rewritten in an export and sealed again is refused by the chain, even with a trailer worked out again', async () => {
  const lines = await approvedExport();
  const at = lines.findIndex((line) => line.includes('"type":"APPROVE"'));
  assert.ok(at > 0);
  const { checksum: _checksum, ...record } = JSON.parse(lines[at]!) as RunRecord;
  const forged = sealRecord({ ...record, event: { ...record.event, by: 'mallory' } });
  const edited = [...lines];
  edited[at] = JSON.stringify(forged);
  const error = await refusal(retrailed(edited));
  assert.instance(error, CorruptRecordError);
  assert.match(error.message, `Import refused at line ${at + 1}: Run "${record.runId}" record ${record.seq} does not hold the checksum it was written with`);
  // Every later checksum worked out again too: no longer told without a key (what verify proves is said in the README).
  let previous = (JSON.parse(lines[at - 1]!) as RunRecord).checksum;
  for (let i = at; i < lines.length && lines[i]!.startsWith('{"v"'); i++) {
    const { checksum: _old, ...content } = JSON.parse(edited[i]!) as RunRecord;
    const resealed = { ...content, checksum: chainedChecksum(previous, content) };
    edited[i] = JSON.stringify(resealed);
    previous = resealed.checksum;
  }
  assert.equal(verifyExport(retrailed(edited)).problems, []);
});

test('a signed export checks out with its key only, and not once a line or the trailer is changed', async () => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const other = generateKeyPairSync('ed25519').publicKey;
  const lines = await approvedExport({ signingKey: privateKey });
  const text = lines.join('\n');
  const signed = verifyExport(text, { verifyKey: publicKey });
  assert.equal([signed.problems, signed.trailer?.signatureChecked], [[], true]);
  const wrongKey = verifyExport(text, { verifyKey: other });
  assert.match(wrongKey.problems[0]!.detail, 'the signature does not hold for the key given: it was signed with key');
  // A forged record whose chain and trailer are worked out again still fails the signature.
  const edited = [...lines];
  edited[2] = edited[2]!.replace('"go"', '"gone"');
  const forged = JSON.parse(retrailed(edited).split('\n').at(-1)!) as { trailer: Record<string, unknown> };
  forged.trailer.signature = (JSON.parse(lines.at(-1)!) as { trailer: { signature: unknown } }).trailer.signature;
  const resigned = [...retrailed(edited).split('\n').slice(0, -1), JSON.stringify(forged)].join('\n');
  assert.match(verifyExport(resigned, { verifyKey: publicKey }).problems[0]?.detail ?? '', /does not hold|signature/);
  const unsigned = (await approvedExport()).join('\n');
  const refusedUnsigned = await importRun(new MemoryStore(), unsigned, { verifyKey: publicKey }).then(() => undefined, (error: Error) => error);
  assert.match(refusedUnsigned?.message ?? '', 'the export is not signed');
  assert.is((await importRun(new MemoryStore(), text, { verifyKey: publicKey })).status, 'done');
});

test('a header of format 3 whose checksum was removed is refused on import', async () => {
  const lines = await approvedExport();
  const { checksum: _removed, ...header } = JSON.parse(lines[0]!) as Record<string, unknown>;
  assert.is(header.format, 3);
  const error = await refusal(retrailed([JSON.stringify(header), ...lines.slice(1)]));
  assert.match(error.message, 'Import refused at line 1: Run');
  assert.match(error.message, 'header has no checksum, which every header of format 3 carries');
});

test.run();
