import { test } from 'uvu';
import * as assert from 'uvu/assert';
import jsonPatch from 'fast-json-patch';
import { applyPatchSafe, applyPatchShared } from '../src/log/format/applyPatch.ts';
import { diff, findUnsafePath, normalize, plainJson } from '../src/log/format/patch.ts';
import type { Json, Operation } from '../src/log/format/record.ts';
import { InvalidPatchError, UnsafePatchError } from '../src/log/format/storageErrors.ts';

function replay(snapshots: unknown[]): void {
  let doc = normalize(snapshots[0]);
  for (let i = 1; i < snapshots.length; i++) {
    const ops = diff(snapshots[i - 1], snapshots[i]);
    doc = applyPatchSafe(doc, ops);
    assert.equal(doc, normalize(snapshots[i]), `snapshot ${i} after ${JSON.stringify(ops)}`);
  }
}

test('normalize drops keys holding undefined, as the JSON form does', () => {
  const value = { output: undefined, error: undefined, children: { a: { snapshot: { input: undefined, n: 1 } } }, list: [1, undefined] };
  assert.equal(normalize(value), { children: { a: { snapshot: { n: 1 } } }, list: [1, null] });
  assert.not.ok('output' in (normalize(value) as object));
});

test('plainJson equals normalize, keeps plain parts by reference and never changes its input', () => {
  class Point {
    constructor(readonly x: number) {}
  }
  const plain = { role: 'tool', content: 'ok', list: [1, 'a', null, { deep: true }] };
  const mixed = {
    kept: plain,
    gone: undefined,
    fn: () => 1,
    nan: Number.NaN,
    holes: [undefined, () => 2, Symbol('s'), Number.POSITIVE_INFINITY, plain],
    when: new Date(0),
    point: new Point(3),
    custom: { toJSON: () => 'custom' },
    nested: { a: { b: undefined, c: 1 } },
  };
  const before = JSON.stringify(mixed);
  const json = plainJson(mixed) as Record<string, Json>;
  assert.equal(json, normalize(mixed));
  assert.is(JSON.stringify(mixed), before);
  assert.ok('gone' in mixed && 'b' in mixed.nested.a);
  assert.is(json.kept, plain);
  assert.is((json.holes as Json[])[4], plain);
  assert.is(plainJson(plain), plain);
  assert.is(plainJson('text'), 'text');
  assert.throws(() => plainJson(undefined), /JSON-serializable/);
});

test('appending one element to an array is exactly one add op', () => {
  const messages = [{ role: 'user', content: 'hi' }];
  const prev = { context: { messages }, value: 'infer' };
  const next = { context: { messages: [...messages, { role: 'assistant', content: 'hello' }] }, value: 'infer' };
  assert.equal(diff(prev, next), [{ op: 'add', path: '/context/messages/1', value: { role: 'assistant', content: 'hello' } }]);
});

test('identical references produce no ops and are never walked', () => {
  const shared = { big: Array.from({ length: 10 }, (_, i) => ({ i })) };
  const trap = new Proxy(shared, { ownKeys: () => { throw new Error('walked a shared subtree'); } });
  assert.equal(diff({ a: trap, n: 1 }, { a: trap, n: 2 }), [{ op: 'replace', path: '/n', value: 2 }]);
});

test('patches reproduce shrinking arrays, removed keys, nested changes and escaped keys', () => {
  replay([
    { list: [1, 2, 3, 4], keep: { a: 1, b: { c: [1, { d: 2 }] } }, 'a/b': 1, 'x~y': { '~/': 'v' } },
    { list: [1, 9], keep: { a: 1, b: { c: [1, { d: 3, e: null }] } }, 'a/b': 2, 'x~y': { '~/': 'w', '': 0 } },
    { list: [], keep: { b: { c: [] } }, 'x~y': {}, 'new/key~': [true] },
    { list: [[1], { z: 1 }], keep: [1, 2], 'new/key~': 'now a string' },
    { list: { now: 'object' }, keep: null },
    {},
  ]);
  const ops = diff({ 'a/b': { '~x': 1 } }, { 'a/b': { '~x': 2 } });
  assert.equal(ops, [{ op: 'replace', path: '/a~1b/~0x', value: 2 }]);
});

test('keys that hold undefined on either side are treated as absent', () => {
  assert.equal(diff({ output: undefined }, { output: 42 }), [{ op: 'add', path: '/output', value: 42 }]);
  assert.equal(diff({ output: 42 }, { output: undefined }), [{ op: 'remove', path: '/output' }]);
  assert.equal(diff({ output: undefined }, {}), []);
  assert.equal(diff({ m: { a: 1 } }, { m: { a: 1, b: undefined } }), []);
  replay([{ c: { input: undefined, list: [undefined] } }, { c: { input: { x: 1 }, list: [undefined, 2] } }, { c: {} }]);
});

test('non-plain leaves are compared by their JSON form', () => {
  const t = new Date('2024-01-01T00:00:00.000Z');
  assert.equal(diff({ at: t }, { at: new Date(t.getTime()) }), []);
  assert.equal(diff({ at: t }, { at: new Date(0) }), [{ op: 'replace', path: '/at', value: '1970-01-01T00:00:00.000Z' }]);
  assert.equal(diff({ n: 1 }, { n: Number.NaN }), [{ op: 'replace', path: '/n', value: null }]);
});

test('random edits replay exactly and agree with fast-json-patch compare', () => {
  let seed = 7;
  const rand = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
  const keys = ['a', 'b/c', 'd~e', 'f', ''];
  const mutate = (value: unknown, depth: number): unknown => {
    const roll = rand(10);
    if (depth > 0 && (depth > 3 || roll === 0)) return [rand(5), 'str', null, true, { k: rand(3) }][rand(5)];
    if (Array.isArray(value)) {
      const copy = value.slice();
      if (roll < 4) copy.push(mutate(undefined, depth + 1));
      else if (roll < 6 && copy.length) copy.pop();
      else if (copy.length) copy[rand(copy.length)] = mutate(copy[rand(copy.length)], depth + 1);
      return copy;
    }
    if (typeof value === 'object' && value !== null) {
      const copy: Record<string, unknown> = { ...value };
      const key = keys[rand(keys.length)] as string;
      if (roll < 3) delete copy[key];
      else if (roll < 4) copy[key] = undefined;
      else copy[key] = mutate(copy[key], depth + 1);
      return copy;
    }
    return rand(2) ? { a: value } : [value];
  };
  const snapshots: unknown[] = [{ a: [], f: { nested: {} } }];
  for (let i = 0; i < 400; i++) snapshots.push(mutate(snapshots.at(-1), 0));
  replay(snapshots);
  for (let i = 1; i < snapshots.length; i++) {
    const prev = normalize(snapshots[i - 1]);
    const viaCompare = jsonPatch.applyPatch(structuredClone(prev), jsonPatch.compare(prev as object, normalize(snapshots[i]) as object)).newDocument;
    assert.equal(applyPatchSafe(prev, diff(snapshots[i - 1], snapshots[i])), viaCompare);
  }
  // The structure-sharing applier reproduces the same history, with and without nodes it owns, and
  // never changes a state it returned earlier.
  for (const ownEvery of [0, 1, 7]) {
    let shared = normalize(snapshots[0]);
    let owned = new WeakSet<object>();
    const kept: Array<[Json, string]> = [];
    for (let i = 1; i < snapshots.length; i++) {
      shared = applyPatchShared(shared, structuredClone(diff(snapshots[i - 1], snapshots[i])), ownEvery ? owned : undefined);
      assert.equal(shared, normalize(snapshots[i]), `shared, snapshot ${i}`);
      if (ownEvery === 0 || i % ownEvery === 0) {
        kept.push([shared, JSON.stringify(shared)]);
        owned = new WeakSet<object>();
      }
    }
    for (const [doc, text] of kept) assert.is(JSON.stringify(doc), text, 'a kept state was changed later');
  }
});

test('applyPatchShared copies only the changed path and leaves the input as it was', () => {
  const doc = { messages: [{ role: 'user', content: 'hi' }], other: { big: [1, 2, 3] }, n: 1 } as Json;
  const next = applyPatchShared(doc, [
    { op: 'add', path: '/messages/-', value: { role: 'assistant', content: 'hello' } },
    { op: 'replace', path: '/n', value: 2 },
    { op: 'test', path: '/other', value: { big: [1, 2, 3] } },
  ]) as { messages: Json[]; other: Json; n: number };
  assert.equal(doc, { messages: [{ role: 'user', content: 'hi' }], other: { big: [1, 2, 3] }, n: 1 });
  assert.equal(next, { messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'hello' }], other: { big: [1, 2, 3] }, n: 2 });
  const before = doc as { messages: Json[]; other: Json };
  assert.ok(next.other === before.other && next.messages[0] === before.messages[0], 'untouched subtrees are shared');
  const moved = applyPatchShared(next as Json, [
    { op: 'move', from: '/messages/0', path: '/first' },
    { op: 'copy', from: '/other/big', path: '/messages/0/copied' },
    { op: 'remove', path: '/n' },
  ]);
  assert.equal(moved, { messages: [{ role: 'assistant', content: 'hello', copied: [1, 2, 3] }], other: { big: [1, 2, 3] }, first: { role: 'user', content: 'hi' } });
  assert.is((next.messages as Json[]).length, 2, 'the earlier result is untouched');
  const owned = new WeakSet<object>();
  const first = applyPatchShared(doc, [{ op: 'add', path: '/messages/-', value: 'a' }], owned) as { messages: Json[] };
  const second = applyPatchShared(first as unknown as Json, [{ op: 'add', path: '/messages/-', value: 'b' }], owned) as { messages: Json[] };
  assert.ok(second.messages === first.messages, 'owned nodes are changed in place');
});

test('applyPatchShared refuses what does not fit, and unsafe paths, naming the op', () => {
  const doc = { list: [1], a: { b: 1 } } as Json;
  const refused = (ops: Operation[], pattern: RegExp) =>
    assert.throws(() => applyPatchShared(doc, ops), (error: unknown) => error instanceof InvalidPatchError && pattern.test((error as Error).message));
  refused([{ op: 'replace', path: '/missing', value: 1 }], /op 0 \(replace \/missing\).*does not exist/);
  refused([{ op: 'add', path: '/list/5', value: 1 }], /out of bounds/);
  refused([{ op: 'remove', path: '/list/x' }], /not an array index/);
  refused([{ op: 'add', path: '/a/b/c', value: 1 }], /not an object or array/);
  refused([{ op: 'test', path: '/a/b', value: 2 }], /test at "\/a\/b" failed/);
  refused([{ op: 'move', from: '/a', path: '/a/inner' }], /into itself/);
  assert.throws(() => applyPatchShared(doc, [{ op: 'add', path: '/__proto__/x', value: 1 }]), (error: unknown) => error instanceof UnsafePatchError);
  assert.equal(doc, { list: [1], a: { b: 1 } });
});

test('applyPatchSafe leaves its inputs untouched and shares no references with them', () => {
  const doc: Json = { list: [{ a: 1 }], keep: { b: 2 } };
  const before = structuredClone(doc);
  const ops: Operation[] = [{ op: 'add', path: '/list/-', value: { c: [3] } }, { op: 'replace', path: '/keep/b', value: 5 }];
  const opsBefore = structuredClone(ops);
  const out = applyPatchSafe(doc, ops) as { list: Array<{ c?: number[] }> };
  assert.equal(doc, before);
  out.list[1]?.c?.push(4);
  assert.equal(ops, opsBefore);
  assert.equal(out, { list: [{ a: 1 }, { c: [3, 4] }], keep: { b: 5 } });
});

test('applyPatchSafe refuses __proto__, constructor and prototype segments', () => {
  for (const path of ['/__proto__/polluted', '/a/constructor/prototype/x', '/prototype']) {
    assert.throws(() => applyPatchSafe({ a: {} }, [{ op: 'add', path, value: 1 }]), (error: unknown) => error instanceof UnsafePatchError && error.message.includes(path));
  }
  assert.throws(() => applyPatchSafe({ a: {} }, [{ op: 'copy', from: '/__proto__', path: '/b' }]), (error: unknown) => error instanceof UnsafePatchError);
  assert.is(({} as Record<string, unknown>).polluted, undefined);
});

test('a patch that does not fit the document is refused with the failing op', () => {
  assert.throws(
    () => applyPatchSafe({ a: 1 }, [{ op: 'replace', path: '/missing/deep', value: 1 }]),
    (error: unknown) => error instanceof InvalidPatchError && error.message.includes('/missing/deep'),
  );
});

test('a key named constructor, prototype or __proto__ is recorded by replacing the object that holds it', () => {
  const before = { context: { counts: { the: 2 } as Record<string, number>, step: 1 } };
  for (const key of ['constructor', 'prototype', '__proto__']) {
    const added = JSON.parse(`{"context":{"counts":{"the":2,"${key}":1},"step":2}}`);
    const changed = JSON.parse(`{"context":{"counts":{"the":2,"${key}":5},"step":2}}`);
    for (const [prev, next] of [[before, added], [added, changed], [changed, before]] as const) {
      const ops = diff(prev, next);
      assert.is(findUnsafePath(ops), undefined, `no op goes through ${key}`);
      assert.equal(applyPatchSafe(normalize(prev), ops), normalize(next));
    }
    assert.equal(diff(before, added).map((op) => [op.op, op.path]), [['replace', '/context/counts'], ['replace', '/context/step']]);
  }
});

test.run();
