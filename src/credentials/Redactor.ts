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

/** A redacting text sink; `flush` writes what was held back in case it began a secret. */
export interface RedactingWriter {
  write(text: string): void;
  flush(): void;
}

/** The error-like copy returned by `redactError`. */
export interface RedactedError extends Error {
  cause?: unknown;
}

const MAX_CAUSE_DEPTH = 5;
const CACHED_STRING_MIN_LENGTH = 64;

/**
 * Replaces every known secret value, and its common encodings, with `[redacted:<name>]`.
 * @example
 * const redactor = new Redactor();
 * redactor.register(process.env.TOKEN ?? '', 'token');
 * console.log(redactor.redactString(`Authorization: Bearer ${process.env.TOKEN}`));
 */
export class Redactor {
  readonly #labels = new Map<string, string>();
  readonly #cacheCleanObjects: boolean;
  readonly #stringCacheChars: number;
  readonly #strings = new Map<string, string>();
  #cachedChars = 0;
  #clean = new WeakSet<object>();
  #forms: string[] = [];
  #test: RegExp | undefined;
  #replace: RegExp | undefined;
  #shortest = Number.POSITIVE_INFINITY;
  #longest = 0;

  constructor(options: RedactorOptions = {}) {
    this.#cacheCleanObjects = options.cacheCleanObjects ?? false;
    this.#stringCacheChars = options.stringCacheChars ?? 8_000_000;
  }

  /** Starts redacting `value` (ignored when shorter than 4 characters); returns whether it is tracked. */
  register(value: string, name = 'secret'): boolean {
    if (typeof value !== 'string' || value.length < MIN_SECRET_LENGTH) return false;
    let added = false;
    for (const form of secretEncodings(value)) {
      if (this.#labels.has(form)) continue;
      this.#labels.set(form, `[redacted:${name}]`);
      added = true;
    }
    if (added) this.#rebuild();
    return true;
  }

  /** Number of registered forms (values times their encodings); never the values themselves. */
  get size(): number {
    return this.#labels.size;
  }

  /** Length of the longest registered form; streaming helpers hold back this many characters at most. */
  get longestForm(): number {
    return this.#longest;
  }

  /** Returns `text` with every registered value, in any tracked encoding, replaced by its label. */
  redactString(text: string): string {
    if (this.#test === undefined || text.length < this.#shortest) return text;
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
    if (this.#test === undefined || text.length < this.#shortest || !this.#test.test(text)) return text;
    return text.replace(this.#replace as RegExp, (found) => this.#labels.get(found) ?? '[redacted]');
  }

  /** True when `text` contains a registered value in any tracked encoding. */
  contains(text: string): boolean {
    return this.#test !== undefined && text.length >= this.#shortest && this.#test.test(text);
  }

  /** Deep-redacts plain JSON (keys and string values); returns the same reference when nothing changed. */
  redactJson<T>(value: T): T {
    if (this.#test === undefined) return value;
    return this.#walk(value) as T;
  }

  /** Returns an Error with redacted name, message, stack, cause and enumerable properties. */
  redactError(error: unknown): RedactedError {
    return this.#redactError(error, 0);
  }

  /** Wraps a text sink so that what reaches it is redacted, even when a secret spans two writes. */
  redactingWriter(write: (text: string) => void): RedactingWriter {
    let pending = '';
    return {
      write: (text) => {
        const redacted = this.#scan(pending + text);
        const held = this.#unfinishedSuffix(redacted);
        pending = redacted.slice(redacted.length - held);
        if (held < redacted.length) write(redacted.slice(0, redacted.length - held));
      },
      flush: () => {
        if (pending !== '') write(this.#scan(pending));
        pending = '';
      },
    };
  }

  /** Length of the longest suffix of `text` that is the start (not the whole) of a registered form. */
  #unfinishedSuffix(text: string): number {
    let held = 0;
    for (const form of this.#forms) {
      const first = form[0] as string;
      let at = text.indexOf(first, Math.max(0, text.length - form.length + 1));
      while (at !== -1 && text.length - at > held) {
        if (form.startsWith(text.slice(at))) {
          held = text.length - at;
          break;
        }
        at = text.indexOf(first, at + 1);
      }
    }
    return held;
  }

  #rebuild(): void {
    const forms = [...this.#labels.keys()].sort((a, b) => b.length - a.length);
    this.#forms = forms;
    const source = forms.map(escapeRegExp).join('|');
    this.#test = new RegExp(source);
    this.#replace = new RegExp(source, 'g');
    this.#shortest = forms.reduce((min, form) => Math.min(min, form.length), Number.POSITIVE_INFINITY);
    this.#longest = forms[0]?.length ?? 0;
    this.#clean = new WeakSet();
    this.#strings.clear();
    this.#cachedChars = 0;
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

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
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
