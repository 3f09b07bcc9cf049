import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { z } from 'zod';
import { RunHeaderSchema, RunRecordSchema, RunSummarySchema } from '../src/log/format/record.ts';
import { wellFormedHeader, wellFormedRecord, wellFormedSummary } from '../src/log/format/wellFormed.ts';

const time = '2025-01-01T00:00:00.000Z';

const records = [
  {
    v: 1,
    runId: 'r1',
    seq: 3,
    time,
    event: { type: 'TOOL_FINISHED', callId: 'c1', outcome: { content: 'ok', isError: false } },
    state: { loop: 'execute' },
    patch: [
      { op: 'add', path: '/context/messages/-', value: { role: 'tool' } },
      { op: 'remove', path: '/children/x' },
      { op: 'replace', path: '', value: null },
      { op: 'move', from: '/a', path: '/b' },
      { op: 'copy', from: '/a', path: '/c' },
      { op: 'test', path: '/a', value: 0 },
    ],
    snapshot: { value: 'execute', context: { step: 1 } },
    meta: { durationMs: 1.5, usage: { inputTokens: 5, outputTokens: 7 }, model: 'gpt-test', actor: 'child' },
    checksum: '0123456789abcdef',
  },
  { v: 1, runId: 'r1', seq: 0, time: '2025-01-01T00:00:00+02:00', event: { type: 'xstate.init' }, state: 'assemble', patch: [], snapshot: {}, checksum: 'x' },
];

const headers = [
  {
    format: 1,
    runId: 'r1',
    agent: { id: 'a', version: '0' },
    machine: { id: 'agent', hash: 'h' },
    model: { provider: 'openai', model: 'gpt', params: { temperature: 0, stop: ['x'] } },
    parent: { runId: 'r0', seq: 4 },
    createdAt: time,
    input: 'go',
    labels: { module: 'agent.ts' },
  },
  { format: 1, runId: 'r1', agent: { id: 'a', version: '0' }, machine: { id: 'agent', hash: 'h' }, model: { provider: 'p', model: 'm', params: {} }, createdAt: time },
  { format: 3, runId: 'r1', agent: { id: 'a', version: '0' }, machine: { id: 'agent', hash: 'h' }, model: { provider: 'p', model: 'm', params: {} }, createdAt: time, checksum: '0123456789abcdef' },
];

const summaries = [
  {
    runId: 'r1',
    agentId: 'a',
    status: 'waiting',
    steps: 2,
    inputTokens: 10,
    outputTokens: 3,
    costUsd: 0.25,
    lastSeq: 9,
    createdAt: time,
    updatedAt: time,
    parent: { runId: 'r0', seq: 1 },
    waitingOn: ['c1'],
    reason: 'approval',
    truncations: 1,
  },
  { runId: 'r1', agentId: 'a', status: 'running', steps: 0, inputTokens: 0, outputTokens: 0, costUsd: 0, lastSeq: -1, createdAt: time, updatedAt: time },
];

const replacements: unknown[] = [
  undefined, null, true, 0, -0, -1, -2, 1.5, 2 ** 53, Number.NaN, Number.POSITIVE_INFINITY, '', 'x', '/x', 'add', 'move', 'running',
  '2025-01-01T00:00Z', '2025-13-01T00:00:00Z', '2025-01-01', [], [1], {}, { type: 'X' }, Object.create(null) as object, new Date(0),
];

type Path = (string | number)[];

function paths(value: unknown, at: Path = []): Path[] {
  const found: Path[] = [at];
  if (Array.isArray(value)) value.forEach((item, i) => found.push(...paths(item, [...at, i])));
  else if (typeof value === 'object' && value !== null) for (const key of Object.keys(value)) found.push(...paths((value as Record<string, unknown>)[key], [...at, key]));
  return found;
}

/** Copies `value` with the node at `path` changed by `change` (which receives the node's parent and key). */
function edit(value: unknown, path: Path, change: (parent: Record<string | number, unknown>, key: string | number) => void): unknown {
  const copy = structuredClone(value);
  if (path.length === 0) return copy;
  let parent = copy as Record<string | number, unknown>;
  for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, unknown>;
  change(parent, path.at(-1)!);
  return copy;
}

/** Broken and unusual variants of a valid value: each node replaced or removed, extra and reordered keys. */
function variants(valid: unknown): unknown[] {
  const out: unknown[] = [valid, ...replacements];
  for (const path of paths(valid)) {
    if (path.length > 0) {
      for (const replacement of replacements) out.push(edit(valid, path, (parent, key) => (parent[key] = replacement)));
      out.push(edit(valid, path, (parent, key) => delete parent[key]));
    }
    const node = path.reduce<unknown>((at, key) => (at as Record<string | number, unknown>)[key], valid);
    if (typeof node === 'object' && node !== null && !Array.isArray(node)) {
      const wrap = (change: (node: Record<string, unknown>) => void) =>
        out.push(path.length === 0 ? (() => { const copy = structuredClone(node) as Record<string, unknown>; change(copy); return copy; })() : edit(valid, path, (parent, key) => change(parent[key] as Record<string, unknown>)));
      wrap((n) => (n.extra = 1));
      wrap((n) => (n.extra = undefined));
      wrap((n) => Object.defineProperty(n, '__proto__', { value: { polluted: true }, enumerable: true, writable: true, configurable: true }));
      wrap((n) => {
        const entries = Object.entries(n).reverse();
        for (const key of Object.keys(n)) delete n[key];
        Object.assign(n, Object.fromEntries(entries));
      });
      wrap((n) => Object.setPrototypeOf(n, { inherited: 1 }));
    }
  }
  return out;
}

/** Equal values with the same keys in the same order, same prototypes and same undefined-valued keys. */
function sameOutput(a: unknown, b: unknown, at = '$'): string | undefined {
  if (typeof a !== 'object' || a === null || typeof b !== 'object' || b === null) return Object.is(a, b) ? undefined : `${at}: ${String(a)} vs ${String(b)}`;
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return `${at}: prototypes differ`;
  const keysA = Reflect.ownKeys(a).map(String);
  const keysB = Reflect.ownKeys(b).map(String);
  if (keysA.join() !== keysB.join()) return `${at}: keys [${keysA.join()}] vs [${keysB.join()}]`;
  for (const key of keysA) {
    const found = sameOutput((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key], `${at}.${key}`);
    if (found) return found;
  }
  return undefined;
}

function agreesWithZod(name: string, valid: unknown[], check: (value: unknown) => unknown, schema: z.ZodType) {
  let accepted = 0;
  for (const base of valid) {
    assert.ok(check(base) !== undefined, `${name}: the hand check accepts a valid value`);
    for (const variant of variants(base)) {
      const fast = check(variant);
      if (fast === undefined) continue;
      accepted++;
      const slow = schema.safeParse(variant);
      assert.ok(slow.success, `${name}: the hand check accepted what zod refuses: ${JSON.stringify(variant)}`);
      const difference = sameOutput(fast, slow.data);
      assert.is(difference, undefined, `${name}: the hand check's result differs from zod's for ${JSON.stringify(variant)}: ${difference}`);
    }
  }
  assert.ok(accepted > valid.length, `${name}: some variants are accepted by hand too`);
}

test('the hand check of a record accepts only what zod accepts, and returns what zod returns', () => {
  agreesWithZod('record', records, wellFormedRecord, RunRecordSchema);
});

test('the hand check of a header accepts only what zod accepts, and returns what zod returns', () => {
  agreesWithZod('header', headers, wellFormedHeader, RunHeaderSchema);
});

test('the hand check of a summary accepts only what zod accepts, and returns what zod returns', () => {
  agreesWithZod('summary', summaries, wellFormedSummary, RunSummarySchema);
});

test('the hand check of a summary update agrees with the partial summary schema, undefined fields included', () => {
  const updates = [{ status: 'done', steps: 3, reason: undefined, waitingOn: undefined }, { updatedAt: time }, {}];
  agreesWithZod('summary update', updates, (value) => wellFormedSummary(value, true), RunSummarySchema.partial());
  assert.equal(Object.keys(wellFormedSummary({ status: 'done', reason: undefined }, true)!), ['status', 'reason']);
});

test.run();
