import { createHash } from 'node:crypto';
import { decodeText } from './codec.ts';
import { applyPatchShared } from './patch.ts';
import type { Json, RunRecord } from './record.ts';

/**
 * The state index: full states of a run at every `STATE_INDEX_EVERY`th seq, kept beside the log so that
 * reading any point of a long run parses little. Long arrays (a conversation's messages) are stored in
 * chunks of `STATE_CHUNK` elements, named by the hash of their text and stored once per run; each indexed
 * state stores the rest of the state and the names of its chunks. Appending to a conversation adds one
 * chunk every `STATE_CHUNK` messages, so an indexed state costs about as much as the change since the
 * last one, however long the run. The index is derived from the records: it is neither checksummed
 * with them nor exported, and a damaged entry is skipped (the state is then rebuilt from the log).
 */
export const STATE_INDEX_EVERY = 64;
/** Elements per chunk; arrays shorter than two chunks stay inline. */
export const STATE_CHUNK = 64;

/** One indexed state as a store writes it: the root text and the chunks not written before. */
export interface StatePoint {
  seq: number;
  root: string;
  chunks: StateChunk[];
}

export interface StateChunk {
  id: string;
  text: string;
}

interface Root {
  v: 1;
  state: unknown;
  arrays: Array<{ path: string[]; chunks: string[] }>;
}

const isPlainObject = (value: object): boolean => {
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
};

/**
 * Builds indexed states from a run's live snapshots. Elements shared by reference with an earlier state
 * (as immutable updates leave them) are recognised without serializing them again, so only new chunks
 * cost their text and hash. One writer per run.
 */
export class StateIndexWriter {
  /** The first element of each chunk seen, with the chunk's elements and name. */
  readonly #known = new WeakMap<object, { elements: unknown[]; id: string }>();
  readonly #written = new Set<string>();

  point(seq: number, snapshot: unknown): StatePoint {
    const arrays: Root['arrays'] = [];
    const chunks: StateChunk[] = [];
    const state = this.#substitute(snapshot, [], arrays, chunks);
    const root: Root = { v: 1, state, arrays };
    return { seq, root: JSON.stringify(root), chunks };
  }

  /** The value with each long array cut to its tail after the last whole chunk; plain objects are searched, arrays' elements are not. */
  #substitute(value: unknown, path: string[], arrays: Root['arrays'], chunks: StateChunk[]): unknown {
    if (typeof value !== 'object' || value === null) return value;
    if (Array.isArray(value)) {
      if (value.length < 2 * STATE_CHUNK) return value;
      const whole = value.length - (value.length % STATE_CHUNK);
      const ids: string[] = [];
      for (let start = 0; start < whole; start += STATE_CHUNK) ids.push(this.#chunk(value, start, chunks));
      arrays.push({ path, chunks: ids });
      return value.slice(whole);
    }
    // Objects that serialize themselves (toJSON) are left whole: what they print is theirs to decide.
    if (!isPlainObject(value) || Object.hasOwn(value, 'toJSON')) return value;
    let copy: Record<string, unknown> | undefined;
    for (const key of Object.keys(value)) {
      const item = (value as Record<string, unknown>)[key];
      if (typeof item !== 'object' || item === null || key === '__proto__') continue;
      const out = this.#substitute(item, [...path, key], arrays, chunks);
      if (out !== item) {
        copy ??= { ...(value as Record<string, unknown>) };
        copy[key] = out;
      }
    }
    return copy ?? value;
  }

  #chunk(array: unknown[], start: number, chunks: StateChunk[]): string {
    const first = array[start];
    const keyed = typeof first === 'object' && first !== null;
    if (keyed) {
      const known = this.#known.get(first);
      if (known && known.elements.every((element, i) => array[start + i] === element)) return known.id;
    }
    const elements = array.slice(start, start + STATE_CHUNK);
    const text = JSON.stringify(elements);
    const id = createHash('sha256').update(text).digest('hex').slice(0, 24);
    if (!this.#written.has(id)) {
      this.#written.add(id);
      chunks.push({ id, text });
    }
    if (keyed) this.#known.set(first, { elements, id });
    return id;
  }
}

/**
 * The indexed states of records stored without them (an imported run), rebuilt by applying the
 * patches in order; empty when a patch does not apply (reading the run will then say where).
 */
export function indexRecords(records: readonly RunRecord[]): StatePoint[] {
  const writer = new StateIndexWriter();
  const points: StatePoint[] = [];
  let doc: Json | undefined;
  try {
    for (const record of records) {
      doc = record.snapshot ?? applyPatchShared(doc as Json, record.patch);
      if (record.seq > 0 && record.seq % STATE_INDEX_EVERY === 0) points.push(writer.point(record.seq, doc));
    }
  } catch {
    return [];
  }
  return points;
}

/** Parsed chunks kept per store, the first kept dropped first; chunks never change, so they never go stale. */
const CACHE_CHARS = 64 * 1024 * 1024;

/**
 * Reads indexed states for one store, sharing parsed chunks between the states it returns: a state
 * read this way is read-only, like every state `stateAt` returns.
 */
export class StateIndexReader {
  readonly #chunks = new Map<string, { elements: unknown[]; chars: number }>();
  #chars = 0;

  /**
   * Decodes an indexed state from its stored root, fetching the chunks not kept yet; returns undefined
   * when anything is missing or damaged, so the caller rebuilds the state from the log instead.
   */
  async decode(
    runId: string,
    storedRoot: string | Uint8Array,
    fetch: (ids: string[]) => Promise<Array<{ id: string; data: string | Uint8Array }>> | Array<{ id: string; data: string | Uint8Array }>,
  ): Promise<Json | undefined> {
    try {
      const root = JSON.parse(decodeText(storedRoot)) as Root;
      if (root?.v !== 1 || !Array.isArray(root.arrays)) return undefined;
      const missing = new Set<string>();
      for (const entry of root.arrays) {
        if (!Array.isArray(entry?.chunks) || !Array.isArray(entry.path)) return undefined;
        for (const id of entry.chunks) if (!this.#chunks.has(`${runId}\n${id}`)) missing.add(String(id));
      }
      if (missing.size > 0) {
        for (const { id, data } of await fetch([...missing])) {
          const text = decodeText(data);
          const elements = JSON.parse(text) as unknown;
          if (!Array.isArray(elements)) return undefined;
          this.#keep(`${runId}\n${id}`, elements, text.length);
        }
      }
      for (const { path, chunks } of root.arrays) {
        let holder: unknown = root;
        let key = 'state';
        for (const segment of path) {
          if (!isHolder(holder) || !Object.hasOwn(holder, key)) return undefined;
          holder = (holder as Record<string, unknown>)[key];
          key = String(segment);
        }
        if (!isHolder(holder) || !Object.hasOwn(holder, key)) return undefined;
        const tail = (holder as Record<string, unknown>)[key];
        if (!Array.isArray(tail)) return undefined;
        const parts: unknown[][] = [];
        for (const id of chunks) {
          const found = this.#chunks.get(`${runId}\n${id}`);
          if (!found) return undefined;
          parts.push(found.elements);
        }
        parts.push(tail);
        (holder as Record<string, unknown>)[key] = ([] as unknown[]).concat(...parts);
      }
      return root.state as Json;
    } catch {
      return undefined;
    }
  }

  #keep(key: string, elements: unknown[], chars: number): void {
    if (this.#chunks.has(key)) return;
    this.#chunks.set(key, { elements, chars });
    this.#chars += chars;
    for (const [oldest, entry] of this.#chunks) {
      if (this.#chars <= CACHE_CHARS) break;
      this.#chunks.delete(oldest);
      this.#chars -= entry.chars;
    }
  }
}

const isHolder = (value: unknown): value is object => typeof value === 'object' && value !== null && !Array.isArray(value);
