import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { UserError } from '../src/errors.ts';
import { makeRecord } from '../src/log/format/makeRecord.ts';
import { canonicalJson } from '../src/log/format/canonicalJson.ts';
import { parseHeader, parseRecord, sealLazily, sealRecord } from '../src/log/format/record.ts';
import { decodeText } from '../src/log/format/codec.ts';
import { checkBatch, joinRecord, splitRecord } from '../src/log/stores/runStore.ts';
import type { RunRecord } from '../src/log/format/record.ts';
import { CorruptRecordError, UnsafePatchError, UnsupportedFormatError } from '../src/log/format/storageErrors.ts';

const time = '2025-01-01T00:00:00.000Z';
const first = (): RunRecord =>
  makeRecord({ runId: 'r1', seq: 0, time, event: { type: 'xstate.init' }, state: 'assemble', snapshot: { context: { messages: [] } } });
const second = (): RunRecord =>
  makeRecord({
    runId: 'r1',
    seq: 1,
    time,
    event: { type: 'USER', text: 'hi' },
    state: { loop: 'infer' },
    previous: { context: { messages: [] } },
    snapshot: { context: { messages: ['hi'] } },
    meta: { durationMs: 3, usage: { inputTokens: 5, outputTokens: 7 }, model: 'gpt-test' },
  });
const roundTrip = (value: unknown): unknown => JSON.parse(JSON.stringify(value));

test('a sealed record survives a JSON round trip and parses to the same value', () => {
  const record = second();
  assert.match(record.checksum, /^[0-9a-f]{16}$/);
  assert.equal(parseRecord(roundTrip(record), { runId: 'r1', seq: 1 }), record);
  assert.equal(record.patch, [{ op: 'add', path: '/context/messages/0', value: 'hi' }]);
  assert.is(record.snapshot, undefined);
});

test('the checksum does not depend on key order', () => {
  const record = second();
  const reordered = Object.fromEntries(Object.entries(roundTrip(record) as object).reverse());
  assert.is(parseRecord(reordered).checksum, record.checksum);
  assert.is(canonicalJson({ b: 1, a: [{ d: 1, c: 2 }] }), '{"a":[{"c":2,"d":1}],"b":1}');
});

test('an altered record fails its checksum with a message naming run, seq and the repair command', () => {
  const altered = roundTrip(second()) as RunRecord;
  (altered.event as Record<string, unknown>).text = 'hello';
  try {
    parseRecord(altered, { runId: 'r1', seq: 1 });
    assert.unreachable('should throw');
  } catch (error) {
    assert.instance(error, CorruptRecordError);
    const message = (error as Error).message;
    assert.match(message, 'Run "r1" record 1 fails its checksum');
    assert.match(message, 'statecraft repair r1');
    assert.is((error as CorruptRecordError).seq, 1);
  }
});

test('an unknown format version is refused with found and supported versions', () => {
  const future = { ...(roundTrip(second()) as object), v: 2 };
  try {
    parseRecord(future, { runId: 'r1', seq: 1 });
    assert.unreachable('should throw');
  } catch (error) {
    assert.instance(error, UnsupportedFormatError);
    assert.match((error as Error).message, 'format version 2');
    assert.match((error as Error).message, 'reads format version 1 only: upgrade Statecraft');
  }
  assert.throws(() => parseHeader({ format: 2, runId: 'r9' }), (error: unknown) => error instanceof UnsupportedFormatError && /Run "r9" header has format version 2/.test(String(error)));
});

test('patch paths through __proto__, constructor or prototype are refused even with a valid checksum', () => {
  for (const path of ['/__proto__/polluted', '/context/constructor', '/x/prototype/y']) {
    const { checksum: _ignored, ...rest } = second();
    const record = sealRecord({ ...rest, patch: [{ op: 'add', path, value: true }] });
    assert.throws(() => parseRecord(roundTrip(record)), (error: unknown) => error instanceof UnsafePatchError && (error as UnsafePatchError).path === path);
  }
});

test('record 0 must be a keyframe with an empty patch', () => {
  const { checksum: _ignored, snapshot: _snapshot, ...rest } = first();
  assert.throws(() => parseRecord(roundTrip(sealRecord(rest))), /must be a keyframe/);
  assert.ok(parseRecord(roundTrip(first())).snapshot);
});

test('a record that does not match the format, or sits at the wrong seq, is refused', () => {
  const record = roundTrip(second()) as Record<string, unknown>;
  assert.throws(() => parseRecord({ ...record, time: 'yesterday' }), (error: unknown) => error instanceof CorruptRecordError && /time/.test(String(error)));
  assert.throws(() => parseRecord(record, { runId: 'r1', seq: 4 }), /Run "r1" record 4 holds the record of run "r1" seq 1/);
  assert.throws(() => parseRecord('text', { runId: 'r1', seq: 4 }), /is not a JSON object/);
});

test('sealing a record with a non-JSON value throws a UserError naming the path', () => {
  const { checksum: _ignored, ...rest } = second();
  assert.throws(
    () => sealRecord({ ...rest, event: { type: 'X', at: new Date() as unknown as string } }),
    (error: unknown) => error instanceof UserError && /\/event\/at/.test(String(error)) && /Date/.test(String(error)),
  );
  assert.throws(() => sealRecord({ ...rest, state: [1, undefined] as never }), (error: unknown) => error instanceof UserError);
});


test('stores keep no checksum: a record read back works out the checksum sealRecord gives', () => {
  const record = second();
  const stored = splitRecord(record);
  assert.not.match(decodeText(stored.body), /checksum/);
  const read = joinRecord(stored, 'r1', 1);
  const { checksum: _checksum, ...content } = record;
  assert.is(read.checksum, sealRecord(content).checksum);
  assert.is(record.checksum, read.checksum);
  assert.equal(parseRecord(roundTrip(read), { runId: 'r1', seq: 1 }), read);
});

test('rows written with the checksum in their body are still read, and a plain-text row is checked by it', () => {
  const record = second();
  const { runId: _runId, patch, snapshot: _snapshot, ...body } = roundTrip(record) as RunRecord;
  const plain = { body: JSON.stringify(body), patch: JSON.stringify(patch), snapshot: null };
  assert.is(joinRecord(plain, 'r1', 1).checksum, record.checksum);
  const altered = { ...plain, body: JSON.stringify({ ...body, state: 'changed' }) };
  assert.throws(() => joinRecord(altered, 'r1', 1), (error: unknown) => error instanceof CorruptRecordError && /fails its checksum/.test((error as Error).message));
  const { checksum: _checksum, ...bare } = body;
  assert.throws(() => joinRecord({ ...plain, body: JSON.stringify(bare) }, 'r1', 1), (error: unknown) => error instanceof CorruptRecordError);
});

test('a lazily sealed record is accepted by append checks and stored without working out its checksum', () => {
  // A Date is not plain JSON: working out the checksum would throw, storing it as text does not.
  const record = sealLazily({ ...(roundTrip(second()) as object), event: { type: 'USER', at: new Date(0) } } as never) as RunRecord;
  checkBatch('r1', [record], 1);
  assert.match(decodeText(splitRecord(record).body), /1970-01-01/);
  assert.throws(() => record.checksum, (error: unknown) => error instanceof UserError && /plain JSON/.test((error as Error).message));
});

test.run();
