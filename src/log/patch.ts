import jsonPatch from 'fast-json-patch';
import { UserError } from '../errors.ts';
import { canonicalJson, type Json, type Operation } from './record.ts';
import { InvalidPatchError, UnsafePatchError } from './storageErrors.ts';

const UNSAFE_SEGMENTS = new Set(['__proto__', 'constructor', 'prototype']);

const escapeSegment = (key: string): string => key.replace(/~/g, '~0').replace(/\//g, '~1');

function isUnsafePointer(pointer: string): boolean {
  // The escapes ~0 and ~1 stand for "~" and "/", so an unsafe segment is always spelled out in full:
  // a pointer without these words needs no splitting.
  if (!pointer.includes('__proto__') && !pointer.includes('constructor') && !pointer.includes('prototype')) return false;
  return pointer
    .split('/')
    .some((segment) => UNSAFE_SEGMENTS.has(segment.replace(/~1/g, '/').replace(/~0/g, '~')));
}

/** Returns the first `path` or `from` in the ops that goes through `__proto__`, `constructor` or `prototype`. */
export function findUnsafePath(ops: readonly Operation[]): string | undefined {
  for (const op of ops) {
    if (isUnsafePointer(op.path)) return op.path;
    if ((op.op === 'move' || op.op === 'copy') && isUnsafePointer(op.from)) return op.from;
  }
  return undefined;
}

/** JSON text of values already serialized (keyframe snapshots, recorded patches), so a store can write them without serializing again. */
export const jsonTextOf = new WeakMap<object, string>();

/** `plainJson`, remembering the JSON text of the result (for big values such as keyframe snapshots). */
export function plainJsonKeepingText(value: unknown): Json {
  const json = plainJson(value);
  if (typeof json === 'object' && json !== null && !jsonTextOf.has(json)) jsonTextOf.set(json, JSON.stringify(json));
  return json;
}

/**
 * Returns the JSON form of a value (what `JSON.stringify` keeps): keys holding `undefined` are dropped.
 * @example
 * const snapshot = normalize(actor.getPersistedSnapshot());
 */
export function normalize(value: unknown): Json {
  const text = JSON.stringify(value);
  if (text === undefined) throw new UserError(`normalize expected a JSON-serializable value, found ${typeof value}: pass a persisted snapshot or another plain object.`);
  return JSON.parse(text) as Json;
}

/** What JSON.stringify leaves out of an object, and writes as null in an array. */
const OMITTED = Symbol('omitted');

/** `plainJson` below the top: OMITTED for what JSON leaves out. */
function jsonOf(value: unknown): unknown {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (value === undefined || typeof value === 'function' || typeof value === 'symbol') return OMITTED;
  if (typeof value !== 'object') return normalize(value);
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const item = value[i];
      let json = jsonOf(item);
      if (json === OMITTED) json = null;
      if (json !== item) (copy ??= value.slice())[i] = json;
    }
    return copy ?? value;
  }
  const proto: unknown = Object.getPrototypeOf(value);
  // Class instances, dates and anything with toJSON: JSON's own rules.
  if ((proto !== Object.prototype && proto !== null) || 'toJSON' in value) return normalize(value);
  let copy: Record<string, unknown> | undefined;
  for (const key in value) {
    const item = (value as Record<string, unknown>)[key];
    const json = jsonOf(item);
    if (json === item) continue;
    copy ??= { ...(value as Record<string, unknown>) };
    if (json === OMITTED) delete copy[key];
    else copy[key] = json;
  }
  return copy ?? value;
}

/**
 * The JSON form of a value, equal to what `normalize` gives, built without serializing: parts that
 * already are plain JSON are the value's own, and only what JSON would change (keys holding
 * `undefined`, non-finite numbers, dates) is copied. The result may share structure with the value,
 * so neither may be changed afterwards (a machine's states and events never are).
 */
export function plainJson(value: unknown): Json {
  const json = jsonOf(value);
  return json === OMITTED ? normalize(value) : (json as Json);
}

function isAbsent(value: unknown): boolean {
  return value === undefined || typeof value === 'function' || typeof value === 'symbol';
}

type Container = Record<string, unknown> | unknown[];

function isContainer(value: unknown): value is Container {
  if (typeof value !== 'object' || value === null) return false;
  if (Array.isArray(value)) return true;
  const proto: unknown = Object.getPrototypeOf(value);
  return (proto === Object.prototype || proto === null) && typeof (value as { toJSON?: unknown }).toJSON !== 'function';
}

function leafJson(value: unknown): Json {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  return plainJson(value);
}

const hasOwn = (object: object, key: string): boolean => Object.prototype.hasOwnProperty.call(object, key);

function diffValue(prev: unknown, next: unknown, path: string, ops: Operation[]): void {
  if (prev === next) return;
  if (isContainer(prev) && isContainer(next) && Array.isArray(prev) === Array.isArray(next)) {
    if (Array.isArray(prev)) diffArray(prev, next as unknown[], path, ops);
    else diffObject(prev as Record<string, unknown>, next as Record<string, unknown>, path, ops);
    return;
  }
  const after = leafJson(next);
  if (!isContainer(prev) && !isContainer(next)) {
    const before = leafJson(prev);
    const same = typeof before === 'object' && before !== null ? JSON.stringify(before) === JSON.stringify(after) : before === after;
    if (same) return;
  }
  ops.push({ op: 'replace', path, value: after });
}

/** The pointer to `key` under `path`; most keys need no escaping, and are not searched twice for it. */
const childPath = (path: string, key: string): string =>
  key.includes('~') || key.includes('/') ? `${path}/${escapeSegment(key)}` : `${path}/${key}`;

function diffObject(prev: Record<string, unknown>, next: Record<string, unknown>, path: string, ops: Operation[]): void {
  // for...in rather than Object.keys: no array per object, and both are plain objects (isContainer).
  for (const key in prev) {
    if (!isAbsent(prev[key]) && (!hasOwn(next, key) || isAbsent(next[key]))) ops.push({ op: 'remove', path: childPath(path, key) });
  }
  for (const key in next) {
    const value = next[key];
    // Unchanged members (most of a state, from one transition to the next) are skipped before any path is built.
    if (isAbsent(value) || (prev[key] === value && hasOwn(prev, key))) continue;
    if (!hasOwn(prev, key) || isAbsent(prev[key])) ops.push({ op: 'add', path: childPath(path, key), value: leafJson(value) });
    else diffValue(prev[key], value, childPath(path, key), ops);
  }
}

const element = (value: unknown): unknown => (isAbsent(value) ? null : value);

function diffArray(prev: unknown[], next: unknown[], path: string, ops: Operation[]): void {
  const common = Math.min(prev.length, next.length);
  for (let i = 0; i < common; i++) {
    // Elements shared by reference (a history that only grew) are skipped before any path is built.
    const before = prev[i];
    const after = next[i];
    if (before !== after) diffValue(element(before), element(after), `${path}/${i}`, ops);
  }
  for (let i = common; i < next.length; i++) ops.push({ op: 'add', path: `${path}/${i}`, value: leafJson(element(next[i])) });
  for (let i = prev.length - 1; i >= next.length; i--) ops.push({ op: 'remove', path: `${path}/${i}` });
}

/**
 * Returns RFC 6902 ops that turn `normalize(prev)` into `normalize(next)`, skipping subtrees shared by
 * reference. An op's value may be a part of `next` itself (when it is plain JSON): treat both as read-only.
 * @example
 * const patch = diff(previousPersisted, actor.getPersistedSnapshot());
 */
export function diff(prev: unknown, next: unknown): Operation[] {
  const ops: Operation[] = [];
  diffValue(prev, next, '', ops);
  return ops;
}

/** Applies ops to `doc` in place (inserted values are copied, never shared with the ops) and returns the result. */
export function applyPatchInPlace(doc: Json, ops: readonly Operation[], options: { owned?: boolean } = {}): Json {
  const unsafe = findUnsafePath(ops);
  if (unsafe !== undefined) {
    throw new UnsafePatchError(`A patch path "${unsafe}" goes through __proto__, constructor or prototype and is refused as unsafe: remove that operation.`, unsafe);
  }
  // Ops fresh from a parsed record (`owned`) can be applied as they are; others are copied so the
  // document never shares values with the caller's patch.
  const copies = options.owned ? ops : ops.map((op) => ('value' in op && op.value !== null && typeof op.value === 'object' ? { ...op, value: structuredClone(op.value) } : op));
  try {
    return jsonPatch.applyPatch(doc, copies as jsonPatch.Operation[], !options.owned, true, true).newDocument;
  } catch (error) {
    const index = (error as { index?: number }).index;
    const op = index === undefined ? undefined : ops[index];
    throw new InvalidPatchError(
      `A JSON patch does not apply${op ? ` at op ${index} (${op.op} ${op.path})` : ''}: ${(error as Error).message.split('\n')[0]}. Check that the patch was made from this document.`,
      { cause: error },
    );
  }
}

/**
 * Returns a new document with the ops applied, refusing unsafe paths; `doc` and `ops` are left untouched.
 * @example
 * const next = applyPatchSafe(previous, record.patch);
 */
export function applyPatchSafe(doc: Json, ops: readonly Operation[]): Json {
  return applyPatchInPlace(structuredClone(doc), ops);
}

const unescapeSegment = (segment: string): string => segment.replace(/~1/g, '/').replace(/~0/g, '~');

function segmentsOf(pointer: string): string[] {
  if (pointer === '') return [];
  const segments = pointer.slice(1).split('/');
  return pointer.includes('~') ? segments.map(unescapeSegment) : segments;
}

/** The array index a pointer segment spells (digits, no leading zero), or -1. */
function arrayIndex(segment: string): number {
  const length = segment.length;
  if (length === 0 || length > 15 || (length > 1 && segment.charCodeAt(0) === 48)) return -1;
  let value = 0;
  for (let i = 0; i < length; i++) {
    const digit = segment.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return -1;
    value = value * 10 + digit;
  }
  return value;
}

function indexIn(array: readonly Json[], segment: string, pointer: string, adding: boolean): number {
  if (adding && segment === '-') return array.length;
  const index = arrayIndex(segment);
  if (index < 0) throw new InvalidPatchError(`"${pointer}": "${segment}" is not an array index`);
  if (index > array.length || (!adding && index === array.length)) throw new InvalidPatchError(`"${pointer}": index ${index} is out of bounds (length ${array.length})`);
  return index;
}

function valueAt(doc: Json, segments: readonly string[], pointer: string): Json {
  let node: Json = doc;
  for (const segment of segments) {
    if (Array.isArray(node)) node = node[indexIn(node, segment, pointer, false)] as Json;
    else if (typeof node === 'object' && node !== null && hasOwn(node, segment)) node = node[segment] as Json;
    else throw new InvalidPatchError(`"${pointer}" does not exist`);
  }
  return node;
}

/** The node itself when this application owns it, else a shallow copy that it then owns. */
function own<T extends object>(node: T, owned: WeakSet<object> | undefined): T {
  if (owned?.has(node)) return node;
  const copy = (Array.isArray(node) ? node.slice() : { ...node }) as T;
  owned?.add(copy);
  return copy;
}

/** Returns `node` with the op applied at `segments[depth]`, copying only the nodes on the path that are not owned. */
function changed(node: Json, segments: readonly string[], depth: number, op: 'add' | 'replace' | 'remove', value: Json | undefined, pointer: string, owned: WeakSet<object> | undefined): Json {
  if (typeof node !== 'object' || node === null) throw new InvalidPatchError(`"${pointer}" goes through a value that is not an object or array`);
  const segment = segments[depth]!;
  const last = depth === segments.length - 1;
  if (Array.isArray(node)) {
    const index = indexIn(node, segment, pointer, last && op === 'add');
    const copy = own(node, owned);
    if (!last) copy[index] = changed(node[index]!, segments, depth + 1, op, value, pointer, owned);
    else if (op === 'add') {
      if (index === copy.length) copy.push(value!);
      else copy.splice(index, 0, value!);
    } else if (op === 'replace') copy[index] = value!;
    else copy.splice(index, 1);
    return copy;
  }
  const object = node as { [key: string]: Json };
  if ((!last || op !== 'add') && !hasOwn(object, segment)) throw new InvalidPatchError(`"${pointer}" does not exist`);
  const copy = own(object, owned);
  if (!last) copy[segment] = changed(object[segment]!, segments, depth + 1, op, value, pointer, owned);
  else if (op === 'remove') delete copy[segment];
  else copy[segment] = value!;
  return copy;
}

/**
 * Applies ops without changing any node of `doc`: the result shares every subtree the ops did not
 * touch, so stepping a long history forward copies only the paths that change. Nodes in `owned` (made
 * by earlier calls with the same set, and handed to nobody since) are changed in place instead, so a
 * run of patches copies each node at most once. Values in the ops are adopted, not copied: pass ops
 * nobody else holds.
 * @example
 * const owned = new WeakSet<object>();
 * for (const entry of entries) doc = applyPatchShared(doc, entry.patch, owned);
 */
export function applyPatchShared(doc: Json, ops: readonly Operation[], owned?: WeakSet<object>): Json {
  const unsafe = findUnsafePath(ops);
  if (unsafe !== undefined) {
    throw new UnsafePatchError(`A patch path "${unsafe}" goes through __proto__, constructor or prototype and is refused as unsafe: remove that operation.`, unsafe);
  }
  let result = doc;
  ops.forEach((op, index) => {
    try {
      const segments = segmentsOf(op.path);
      if (op.op === 'test') {
        if (canonicalJson(valueAt(result, segments, op.path)) !== canonicalJson(op.value)) throw new InvalidPatchError(`test at "${op.path}" failed`);
        return;
      }
      let value: Json | undefined;
      const kind: 'add' | 'replace' | 'remove' = op.op === 'move' || op.op === 'copy' ? 'add' : op.op;
      if (op.op === 'move' || op.op === 'copy') {
        const from = segmentsOf(op.from);
        value = valueAt(result, from, op.from);
        if (op.op === 'move') {
          if (op.path.startsWith(`${op.from}/`)) throw new InvalidPatchError(`cannot move "${op.from}" into itself`);
          result = from.length === 0 ? result : changed(result, from, 0, 'remove', undefined, op.from, owned);
        }
      } else if (op.op !== 'remove') {
        value = op.value;
      }
      if (segments.length === 0) {
        if (kind === 'remove') throw new InvalidPatchError('cannot remove the whole document');
        result = value!;
      } else {
        result = changed(result, segments, 0, kind, value, op.path, owned);
      }
    } catch (error) {
      if (!(error instanceof InvalidPatchError)) throw error;
      throw new InvalidPatchError(`A JSON patch does not apply at op ${index} (${op.op} ${op.path}): ${error.message}. Check that the patch was made from this document.`);
    }
  });
  return result;
}
