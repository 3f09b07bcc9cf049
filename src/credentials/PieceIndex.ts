import { MIN_PIECE, type SecretForm } from './secretEncodings.ts';

/** A stretch of text to replace by `label`: consecutive characters each inside some registered piece. */
export interface Span {
  start: number;
  end: number;
  label: string;
}

interface Piece {
  text: string;
  label: string;
}

/** Pieces are found by a hash of their first `HASHED` characters; shorter ones by a regular expression. */
const HASHED = MIN_PIECE;
/**
 * A text is probed every `STRIDE` characters with the hash of the `PROBE` characters there: any piece of
 * `HASHED` or more characters holds a probed window, so most of a text is skipped.
 */
const PROBE = 4;
const STRIDE = HASHED - PROBE + 1;
const BASE = 0x01000193;
const MIX = 0x9e3779b1;

/**
 * Every piece of every registered form (each window of `form.piece` characters, or the whole form when
 * it is shorter), found in one pass over a text. The hash of every fifth 4-character window is looked
 * up in a table of the pieces' windows; only where one is found are the 8-character windows around it
 * hashed and looked up, and only a hash found there compares strings. A text without a piece costs
 * about one table lookup in five characters, however many secrets are registered.
 */
export class PieceIndex {
  readonly #pieces = new Map<string, string>();
  #byHash = new Map<number, Piece[]>();
  #table = new Uint8Array(0);
  #shift = 32;
  #probes = new Uint8Array(0);
  #probeShift = 32;
  #short: RegExp | undefined;
  #shortest = Number.POSITIVE_INFINITY;
  #longest = 0;
  /** Each form and the length of its pieces, to tell whether a text's end begins one. */
  readonly #forms: { text: string; size: number }[] = [];
  /** The first one to `PROBE - 1` characters of every piece; made when a stream first asks. */
  #heads: Set<string> | undefined;

  get empty(): boolean {
    return this.#pieces.size === 0;
  }

  /** Texts shorter than this hold no piece. */
  get shortest(): number {
    return this.#shortest;
  }

  /** Adds the pieces of `forms` under `label` (a piece already known keeps its first label). */
  add(forms: readonly SecretForm[], label: string): void {
    for (const { text, piece } of forms) {
      const size = Math.min(piece, text.length);
      this.#forms.push({ text, size });
      for (let i = 0; i + size <= text.length; i++) {
        const gram = text.slice(i, i + size);
        if (!this.#pieces.has(gram)) this.#pieces.set(gram, label);
      }
    }
    this.#rebuild();
  }

  #rebuild(): void {
    const hashed = [...this.#pieces].filter(([text]) => text.length >= HASHED);
    const bits = Math.max(10, Math.ceil(Math.log2(hashed.length * 8 + 1)));
    this.#table = new Uint8Array(2 ** bits);
    this.#shift = 32 - bits;
    const windows = new Set<number>();
    for (const { text } of this.#forms) for (let i = 0; i + PROBE <= text.length; i++) windows.add(hashAt(text, i, PROBE));
    const probeBits = Math.max(10, Math.ceil(Math.log2(windows.size * 16 + 1)));
    this.#probes = new Uint8Array(2 ** probeBits);
    this.#probeShift = 32 - probeBits;
    for (const hash of windows) this.#probes[Math.imul(hash, MIX) >>> this.#probeShift] = 1;
    this.#byHash = new Map();
    for (const [text, label] of hashed) {
      const hash = hashAt(text, 0, HASHED);
      this.#table[Math.imul(hash, MIX) >>> this.#shift] = 1;
      const list = this.#byHash.get(hash);
      if (list) list.push({ text, label });
      else this.#byHash.set(hash, [{ text, label }]);
    }
    const short = [...this.#pieces.keys()].filter((text) => text.length < HASHED).sort((a, b) => b.length - a.length);
    this.#short = short.length ? new RegExp(short.map(escapeRegExp).join('|'), 'g') : undefined;
    this.#shortest = Number.POSITIVE_INFINITY;
    this.#longest = 0;
    for (const text of this.#pieces.keys()) {
      this.#shortest = Math.min(this.#shortest, text.length);
      this.#longest = Math.max(this.#longest, text.length);
    }
    this.#heads = undefined;
  }

  /** The stretches of `text` to redact, in order; overlapping and adjacent pieces make one span. */
  spans(text: string): Span[] {
    const spans: Span[] = [];
    const n = text.length;
    if (n < this.#shortest) return spans;
    if (n >= HASHED && this.#byHash.size) {
      const probes = this.#probes;
      const probeShift = this.#probeShift;
      const table = this.#table;
      const shift = this.#shift;
      // A piece starting at j holds the window at the multiple of STRIDE among j..j+STRIDE-1: where a
      // window is found, the starts that lead to it are the ones to try, in order.
      for (let probe = 0; probe + PROBE <= n; probe += STRIDE) {
        if (probes[Math.imul(hashAt(text, probe, PROBE), MIX) >>> probeShift] !== 1) continue;
        for (let at = Math.max(0, probe - STRIDE + 1), last = Math.min(probe, n - HASHED); at <= last; at++) {
          const hash = hashAt(text, at, HASHED);
          if (table[Math.imul(hash, MIX) >>> shift] === 1) this.#hit(text, at, hash, spans);
        }
      }
    }
    if (this.#short === undefined) return spans;
    const before = spans.length;
    for (const match of text.matchAll(this.#short)) {
      spans.push({ start: match.index, end: match.index + match[0].length, label: this.#pieces.get(match[0]) as string });
    }
    return spans.length === before ? spans : merge(spans);
  }

  #hit(text: string, at: number, hash: number, spans: Span[]): void {
    for (const piece of this.#byHash.get(hash) ?? []) {
      if (!text.startsWith(piece.text, at)) continue;
      const end = at + piece.text.length;
      const last = spans[spans.length - 1];
      if (last !== undefined && at <= last.end) last.end = Math.max(last.end, end);
      else spans.push({ start: at, end, label: piece.label });
    }
  }

  /** Length of the longest end of `text` that begins a piece without completing it: what a stream holds back. */
  unfinishedTail(text: string): number {
    for (let length = Math.min(this.#longest - 1, text.length); length > 0; length--) {
      const tail = text.slice(text.length - length);
      // Most ends are ruled out by the window table (long ones) or the set of piece heads (short ones).
      if (length >= PROBE ? this.#probes[Math.imul(hashAt(tail, 0, PROBE), MIX) >>> this.#probeShift] !== 1 : !this.#headSet().has(tail)) continue;
      if (this.#begins(tail)) return length;
    }
    return 0;
  }

  /** Whether `tail` is the start, shorter than the whole, of some piece of some form. */
  #begins(tail: string): boolean {
    for (const { text, size } of this.#forms) {
      if (size <= tail.length) continue;
      const at = text.indexOf(tail);
      if (at !== -1 && at + size <= text.length) return true;
    }
    return false;
  }

  #headSet(): Set<string> {
    if (this.#heads) return this.#heads;
    const heads = new Set<string>();
    for (const { text, size } of this.#forms) {
      for (let at = 0; at + size <= text.length; at++) for (let length = 1; length < PROBE && length < size; length++) heads.add(text.slice(at, at + length));
    }
    return (this.#heads = heads);
  }
}

function hashAt(text: string, at: number, length: number): number {
  let hash = 0;
  for (let i = at; i < at + length; i++) hash = (Math.imul(hash, BASE) + text.charCodeAt(i)) | 0;
  return hash;
}

function merge(spans: Span[]): Span[] {
  spans.sort((a, b) => a.start - b.start);
  const out: Span[] = [];
  for (const span of spans) {
    const last = out[out.length - 1];
    if (last !== undefined && span.start <= last.end) last.end = Math.max(last.end, span.end);
    else out.push({ ...span });
  }
  return out;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}
