import jsonPatch from 'fast-json-patch';
import { findUnsafePath } from './patch.ts';
import { canonicalJson } from './canonicalJson.ts';
import type { Json, Operation } from './record.ts';
import { InvalidPatchError, UnsafePatchError } from './storageErrors.ts';

const hasOwn = (object: object, key: string): boolean => Object.prototype.hasOwnProperty.call(object, key);

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
