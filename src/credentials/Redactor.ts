import { PieceIndex } from './PieceIndex.ts';
import { RedactingStream, render } from './RedactingStream.ts';
import { MIN_SECRET_LENGTH, secretEncodings } from './secretEncodings.ts';

/** Options of a `Redactor`. */
export interface RedactorOptions {
  /**
   * Remember objects and arrays found free of secrets and skip them on later calls until a new secret
   * is registered. Only safe when inputs are never mutated after being passed in (immutable snapshots).
   */
  cacheCleanObjects?: boolean;
  /**
   * Total characters of long strings whose redacted form is remembered (strings are immutable, so this is
   * always safe); the cache is emptied when full or when a secret is registered. Default 8,000,000; 0 disables.
   */
  stringCacheChars?: number;
}

/** The error-like copy returned by `redactError`. */
export interface RedactedError extends Error {
  cause?: unknown;
}

const MAX_CAUSE_DEPTH = 5;
const CACHED_STRING_MIN_LENGTH = 64;

/**
 * Replaces every known secret value, and every piece of it at least `MIN_PIECE` (8) characters long, raw
 * or in one of its common encodings, with `[redacted:<name>]`.
 * @example
 * const redactor = new Redactor();
 * redactor.register(process.env.TOKEN ?? '', 'token');
 * console.log(redactor.redactString(`Authorization: Bearer ${process.env.TOKEN}`));
 */
export class Redactor {
  readonly #forms = new Set<string>();
  readonly #index = new PieceIndex();
  readonly #cacheCleanObjects: boolean;
  readonly #stringCacheChars: number;
  readonly #strings = new Map<string, string>();
  #cachedChars = 0;
  #clean = new WeakSet<object>();

  constructor(options: RedactorOptions = {}) {
    this.#cacheCleanObjects = options.cacheCleanObjects ?? false;
    this.#stringCacheChars = options.stringCacheChars ?? 8_000_000;
  }

  /** Starts redacting `value` (ignored when shorter than 4 characters); returns whether it is tracked. */
  register(value: string, name = 'secret'): boolean {
    if (typeof value !== 'string' || value.length < MIN_SECRET_LENGTH) return false;
    const forms = secretEncodings(value).filter((form) => !this.#forms.has(form.text));
    if (forms.length === 0) return true;
    for (const form of forms) this.#forms.add(form.text);
    this.#index.add(forms, `[redacted:${name}]`);
    this.#clean = new WeakSet();
    this.#strings.clear();
    this.#cachedChars = 0;
    return true;
  }

  /** Number of registered forms (values times their encodings); never the values themselves. */
  get size(): number {
    return this.#forms.size;
  }

  /** Returns `text` with every registered value and piece, in any tracked encoding, replaced by its label. */
  redactString(text: string): string {
    if (text.length < this.#index.shortest) return text;
    if (text.length < CACHED_STRING_MIN_LENGTH || this.#stringCacheChars === 0) return this.#scan(text);
    const cached = this.#strings.get(text);
    if (cached !== undefined) return cached;
    const result = this.#scan(text);
    if (this.#cachedChars + text.length > this.#stringCacheChars) {
      this.#strings.clear();
      this.#cachedChars = 0;
    }
    if (text.length <= this.#stringCacheChars) {
      this.#strings.set(text, result);
      this.#cachedChars += text.length;
    }
    return result;
  }

  #scan(text: string): string {
    const spans = this.#index.spans(text);
    return spans.length === 0 ? text : render(text, spans, 0, text.length);
  }

  /** True when `text` contains a registered value or piece in any tracked encoding. */
  contains(text: string): boolean {
    return text.length >= this.#index.shortest && this.#index.spans(text).length > 0;
  }

  /** Deep-redacts plain JSON (keys and string values); returns the same reference when nothing changed. */
  redactJson<T>(value: T): T {
    if (this.#index.empty) return value;
    return this.#walk(value) as T;
  }

  /** Returns an Error with redacted name, message, stack, cause and enumerable properties. */
  redactError(error: unknown): RedactedError {
    return this.#redactError(error, 0);
  }

  /**
   * A stream redacted as its whole text would be, for text that arrives in chunks (a model's streamed
   * answer): see `RedactingStream`. Secrets registered later apply from the next chunk on.
   */
  stream(): RedactingStream {
    return new RedactingStream(this.#index);
  }

  #walk(value: unknown): unknown {
    if (typeof value === 'string') return this.redactString(value);
    if (typeof value !== 'object' || value === null) return value;
    if (this.#cacheCleanObjects && this.#clean.has(value)) return value;
    const result = Array.isArray(value) ? this.#walkArray(value) : this.#walkObject(value);
    if (result === value && this.#cacheCleanObjects) this.#clean.add(value);
    return result;
  }

  #walkArray(array: unknown[]): unknown[] {
    let copy: unknown[] | undefined;
    for (let i = 0; i < array.length; i++) {
      const item = array[i];
      const redacted = this.#walk(item);
      if (redacted !== item) {
        copy ??= array.slice();
        copy[i] = redacted;
      }
    }
    return copy ?? array;
  }

  #walkObject(object: object): object {
    const record = object as Record<string, unknown>;
    const keys = Object.keys(record);
    let changed = false;
    const keyOut: string[] = new Array(keys.length);
    const valueOut: unknown[] = new Array(keys.length);
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i] as string;
      const item = record[key];
      keyOut[i] = this.redactString(key);
      valueOut[i] = this.#walk(item);
      if (keyOut[i] !== key || valueOut[i] !== item) changed = true;
    }
    if (!changed) return object;
    const copy: Record<string, unknown> = {};
    for (let i = 0; i < keys.length; i++) {
      // defineProperty, not assignment: a key named "__proto__" must stay a plain data property.
      Object.defineProperty(copy, keyOut[i] as string, {
        value: valueOut[i],
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return copy;
  }

  #redactError(error: unknown, depth: number): RedactedError {
    if (!(error instanceof Error)) {
      const text = typeof error === 'string' ? error : safeStringify(error);
      const copy = new Error(this.redactString(text));
      copy.stack = `Error: ${copy.message}`;
      return copy;
    }
    const copy: RedactedError = new Error(this.redactString(error.message));
    copy.name = this.redactString(error.name);
    copy.stack = error.stack === undefined ? undefined : this.redactString(error.stack);
    for (const key of Object.keys(error)) {
      if (key === 'cause' || key === 'message' || key === 'stack' || key === 'name') continue;
      const item = (error as unknown as Record<string, unknown>)[key];
      Object.defineProperty(copy, this.redactString(key), {
        value: this.redactJson(toJsonish(item)),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    if (error.cause !== undefined) {
      copy.cause =
        depth >= MAX_CAUSE_DEPTH ? '[cause omitted: too deep]' : this.#redactError(error.cause, depth + 1);
    }
    return copy;
  }
}

function safeStringify(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

function toJsonish(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return typeof value === 'function' ? undefined : value;
  try {
    return JSON.parse(JSON.stringify(value)) as unknown;
  } catch {
    return String(value);
  }
}
