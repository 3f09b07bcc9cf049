import { UserError } from '../../errors.ts';
import type { Json, Operation } from './record.ts';

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
  // A key named __proto__, constructor or prototype (data a machine may hold, such as counts by word)
  // cannot be a patch path, which readers refuse: the object holding it is replaced whole instead.
  if (path !== '' && changesUnsafeKey(prev, next)) {
    ops.push({ op: 'replace', path, value: leafJson(next) });
    return;
  }
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

/** Whether a member named __proto__, constructor or prototype differs between the two objects. */
function changesUnsafeKey(prev: Record<string, unknown>, next: Record<string, unknown>): boolean {
  for (const key of UNSAFE_SEGMENTS) {
    if ((hasOwn(prev, key) || hasOwn(next, key)) && (hasOwn(prev, key) !== hasOwn(next, key) || prev[key] !== next[key])) return true;
  }
  return false;
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
