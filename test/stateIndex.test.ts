import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeText } from '../src/log/format/codec.ts';
import { normalize } from '../src/log/format/patch.ts';
import { STATE_CHUNK, StateIndexReader, StateIndexWriter, type StatePoint } from '../src/log/reads/stateIndex.ts';

/** Decodes points as a store would: chunks kept by name, encoded like every stored text. */
function storeOf() {
  const chunks = new Map<string, Uint8Array>();
  const reader = new StateIndexReader();
  let fetched = 0;
  return {
    add(point: StatePoint): Uint8Array {
      for (const chunk of point.chunks) chunks.set(chunk.id, encodeText(chunk.text));
      return encodeText(point.root);
    },
    read: (root: Uint8Array | string, runId = 'r') =>
      reader.decode(runId, root, (ids) => {
        fetched += ids.length;
        return ids.flatMap((id) => (chunks.has(id) ? [{ id, data: chunks.get(id)! }] : []));
      }),
    chunks,
    get fetched() {
      return fetched;
    },
  };
}

test('an indexed state reads back equal to the snapshot, whatever the arrays hold', async () => {
  const writer = new StateIndexWriter();
  const store = storeOf();
  const withProto = JSON.parse(`{"__proto__": {"list": [${Array.from({ length: 200 }, (_, i) => i).join(',')}]}}`) as object;
  let messages: unknown[] = [];
  let seed = 7;
  const rand = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
  for (let step = 0; step < 600; step++) {
    const roll = rand(10);
    if (roll < 6) messages = [...messages, { role: 'user', content: `m${step}`, extra: undefined }];
    else if (roll === 6) messages = messages.slice(0, Math.max(0, messages.length - 70));
    else if (roll === 7 && messages.length) messages = messages.map((m, i) => (i === rand(messages.length) ? { ...(m as object), edited: step } : m));
    else if (roll === 8) messages = [...messages, undefined, null, 3, 'text', [1, [2]]];
    const snapshot = {
      value: { loop: 'infer' },
      context: {
        messages,
        numbers: Array.from({ length: 130 + (step % 5) }, (_, i) => i * step),
        when: new Date(Date.UTC(2025, 0, 1, 0, 0, step)),
        nested: { deeper: { log: messages.slice(0, 140) } },
        skipped: undefined,
        odd: withProto,
      },
      children: {},
    };
    const read = await store.read(store.add(writer.point(step, snapshot)));
    assert.equal(read, normalize(snapshot), `step ${step}`);
  }
});

test('unchanged chunks are recognised by reference: an append costs its own serialization, not the history', async () => {
  let serialized = 0;
  const element = (n: number) => ({ n, toJSON: () => (serialized++, { n }) });
  const writer = new StateIndexWriter();
  const store = storeOf();
  let items: unknown[] = Array.from({ length: 2 * STATE_CHUNK }, (_, i) => element(i));
  const first = writer.point(1, { items });
  assert.is(first.chunks.length, 2);
  assert.is(serialized, 2 * STATE_CHUNK);
  store.add(first);
  serialized = 0;
  items = [...items, element(128)];
  const second = writer.point(2, { items });
  assert.is(second.chunks.length, 0, 'no chunk written twice');
  assert.is(serialized, 1, 'only the new tail element is serialized');
  assert.equal(await store.read(store.add(second)), normalize({ items }));
  // A changed element inside a whole chunk makes that chunk new.
  items = items.map((item, i) => (i === 5 ? element(-5) : item));
  const third = writer.point(3, { items });
  assert.is(third.chunks.length, 1);
  assert.equal(await store.read(store.add(third)), normalize({ items }));
});

test('a very long array names its chunks through lists: the root stays small however long the run', async () => {
  const writer = new StateIndexWriter();
  const store = storeOf();
  const sizes: number[] = [];
  const shapes: Array<[number, number]> = [];
  let items: Array<{ n: number }> = [];
  for (const length of [5_000, 20_000, 40_000, 40_100]) {
    while (items.length < length) items = [...items, { n: items.length }];
    const point = writer.point(length, { context: { items } });
    sizes.push(point.root.length);
    const { arrays } = JSON.parse(point.root) as { arrays: Array<{ lists: string[]; chunks: string[] }> };
    shapes.push([arrays[0]!.lists.length, arrays[0]!.chunks.length]);
    assert.equal(await store.read(store.add(point)), normalize({ context: { items } }), `length ${length}`);
  }
  // 5,000 elements are 78 chunks, named one by one; 40,000 are 625: 9 lists of 64 names, and 49 names.
  assert.equal(shapes, [[0, 78], [4, 56], [9, 49], [9, 50]]);
  assert.ok(sizes.every((size) => size < 4_000), `root sizes ${sizes.join(', ')}`);
});

test('chunks are parsed once per store and shared by the states read', async () => {
  const writer = new StateIndexWriter();
  const store = storeOf();
  let items: unknown[] = [];
  const roots: Uint8Array[] = [];
  for (let i = 0; i < 10 * STATE_CHUNK; i++) {
    items = [...items, { i }];
    if (i % 50 === 0) roots.push(store.add(writer.point(i, { items })));
  }
  const last = (await store.read(roots.at(-1)!)) as { items: unknown[] };
  const fetchedOnce = store.fetched;
  const earlier = (await store.read(roots.at(-3)!)) as { items: unknown[] };
  assert.is(store.fetched, fetchedOnce, 'earlier states reuse parsed chunks');
  assert.ok(earlier.items[0] === last.items[0], 'elements are shared, not copied');
  // Chunks are kept per run: the same names in another run are fetched for it.
  await store.read(roots.at(-1)!, 'other');
  assert.ok(store.fetched > fetchedOnce);
});

test('a damaged or incomplete indexed state reads as missing, so the caller falls back to the log', async () => {
  const writer = new StateIndexWriter();
  const store = storeOf();
  const items = Array.from({ length: 3 * STATE_CHUNK }, (_, i) => ({ i }));
  const root = store.add(writer.point(1, { items }));
  const flipped = Buffer.from(root);
  flipped[flipped.length - 3] = flipped[flipped.length - 3]! ^ 0xff;
  assert.is(await store.read(flipped), undefined, 'flipped byte');
  assert.is(await store.read('{"v":2}'), undefined, 'unknown version');
  assert.equal(await store.read(root), normalize({ items }), 'the undamaged entry reads');
  const point = JSON.parse(writer.point(2, { items: [...items] }).root) as { arrays: Array<{ path: string[] }> };
  point.arrays[0]!.path = ['nowhere'];
  assert.is(await store.read(JSON.stringify(point)), undefined, 'path to nothing');
  assert.is(await storeOf().read(root), undefined, 'chunks missing');
});

test.run();
