import { createHash } from 'node:crypto';
import { decodeText } from '../format/codec.ts';
import { applyPatchShared } from '../format/applyPatch.ts';
import type { Json, RunRecord } from '../format/record.ts';

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
  /** Per long array: where it is, the lists naming its first chunks (64 names each), then the names of the rest. */
  arrays: Array<{ path: string[]; lists: string[]; chunks: string[] }>;
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
      // Whole lists of names are chunks too, so an indexed state names at most 63 chunks and 1 list
      // per 4,096 elements: its size stays bounded as the run grows instead of growing with it.
      const listed = ids.length < 2 * STATE_CHUNK ? 0 : ids.length - (ids.length % STATE_CHUNK);
      const lists: string[] = [];
      for (let start = 0; start < listed; start += STATE_CHUNK) lists.push(this.#named(JSON.stringify(ids.slice(start, start + STATE_CHUNK)), chunks));
      arrays.push({ path, lists, chunks: ids.slice(listed) });
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
    const id = this.#named(JSON.stringify(elements), chunks);
    if (keyed) this.#known.set(first, { elements, id });
    return id;
  }

  /** Names a chunk by its text's hash, adding it to `chunks` unless this writer wrote it before. */
  #named(text: string, chunks: StateChunk[]): string {
    const id = createHash('sha256').update(text).digest('hex').slice(0, 24);
    if (!this.#written.has(id)) {
      this.#written.add(id);
      chunks.push({ id, text });
    }
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
  // Nodes made since the last indexed state are changed in place (appending to a long conversation
  // would otherwise copy it on every record); the states already indexed are never written to.
  let owned = new WeakSet<object>();
  try {
    for (const record of records) {
      doc = record.snapshot ?? applyPatchShared(doc as Json, record.patch, owned);
      if (record.seq > 0 && record.seq % STATE_INDEX_EVERY === 0) {
        points.push(writer.point(record.seq, doc));
        owned = new WeakSet<object>();
      }
    }
  } catch {
    return [];
  }
  return points;
}

type FetchChunks = (ids: string[]) => Promise<Array<{ id: string; data: string | Uint8Array }>> | Array<{ id: string; data: string | Uint8Array }>;

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
    fetch: FetchChunks,
  ): Promise<Json | undefined> {
    try {
      const root = JSON.parse(decodeText(storedRoot)) as Root;
      if (root?.v !== 1 || !Array.isArray(root.arrays)) return undefined;
      for (const entry of root.arrays) if (!Array.isArray(entry?.path) || !Array.isArray(entry.lists) || !Array.isArray(entry.chunks)) return undefined;
      // First the lists of names, then every chunk named.
      if (!(await this.#load(runId, root.arrays.flatMap((entry) => entry.lists), fetch))) return undefined;
      const names: string[][] = [];
      for (const entry of root.arrays) {
        const listed = entry.lists.map((id) => this.#chunks.get(`${runId}\n${id}`)!.elements);
        const all = ([] as unknown[]).concat(...listed, entry.chunks);
        if (!all.every((id) => typeof id === 'string')) return undefined;
        names.push(all as string[]);
      }
      if (!(await this.#load(runId, names.flat(), fetch))) return undefined;
      for (const [index, { path }] of root.arrays.entries()) {
        const chunks = names[index]!;
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

  /** Makes sure the named chunks are kept, fetching the ones that are not; false when one is missing or not an array. */
  async #load(runId: string, ids: string[], fetch: FetchChunks): Promise<boolean> {
    const missing = [...new Set(ids.filter((id) => !this.#chunks.has(`${runId}\n${id}`)))];
    if (missing.length === 0) return true;
    for (const { id, data } of await fetch(missing)) {
      const text = decodeText(data);
      const elements = JSON.parse(text) as unknown;
      if (!Array.isArray(elements)) return false;
      this.#keep(`${runId}\n${id}`, elements, text.length);
    }
    return missing.every((id) => this.#chunks.has(`${runId}\n${id}`));
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
