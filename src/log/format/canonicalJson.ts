/** Canonical JSON text: plain JSON with object keys sorted, so equal values give equal text (checksums, comparisons). */

/** Thrown by `canonicalJson` for a value JSON cannot hold, with the pointer to it. */
export class NonJsonError extends Error {
  constructor(readonly pointer: string, readonly found: string) {
    super(`non-JSON value (${found}) at "${pointer}"`);
  }
}

/** A value's kind, as error messages name it. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (typeof value === 'number') return String(value);
  if (typeof value !== 'object' || value === null) return typeof value;
  return value.constructor?.name ?? 'object without prototype';
}

function writeCanonical(value: unknown, pointer: string, out: string[]): void {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') {
    out.push(JSON.stringify(value));
  } else if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new NonJsonError(pointer, describeValue(value));
    out.push(JSON.stringify(value));
  } else if (Array.isArray(value)) {
    out.push('[');
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out.push(',');
      writeCanonical(value[i], `${pointer}/${i}`, out);
    }
    out.push(']');
  } else if (typeof value === 'object' && isPlainObject(value)) {
    out.push('{');
    let first = true;
    for (const key of Object.keys(value).sort()) {
      const item = (value as Record<string, unknown>)[key];
      if (item === undefined) continue;
      if (!first) out.push(',');
      first = false;
      out.push(JSON.stringify(key), ':');
      writeCanonical(item, `${pointer}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`, out);
    }
    out.push('}');
  } else {
    throw new NonJsonError(pointer, describeValue(value));
  }
}

function isPlainObject(value: object): boolean {
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Serializes plain JSON with object keys sorted, so equal values give equal text; throws on non-JSON values. */
export function canonicalJson(value: unknown): string {
  const text = canonicalFast(value);
  if (text !== undefined) return text;
  // Only to say where the non-JSON value is: the fast path does not track paths.
  const out: string[] = [];
  writeCanonical(value, '', out);
  return out.join('');
}

/** `"key":` for object keys seen before: records repeat a few dozen keys (type, op, path, value...) thousands of times. */
const keyTexts = new Map<string, string>();
const MAX_KEY_TEXTS = 4096;

function keyText(key: string): string {
  let text = keyTexts.get(key);
  if (text === undefined) {
    text = `${JSON.stringify(key)}:`;
    if (keyTexts.size < MAX_KEY_TEXTS) keyTexts.set(key, text);
  }
  return text;
}

/**
 * The canonical text, or undefined when a value is not plain JSON; no path bookkeeping on the hot path
 * (every record a chained run writes passes here).
 */
function canonicalFast(value: unknown): string | undefined {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') return Number.isFinite(value) ? JSON.stringify(value) : undefined;
  if (value === null) return 'null';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (Array.isArray(value)) {
    let text = '[';
    for (let i = 0; i < value.length; i++) {
      const item = canonicalFast(value[i]);
      if (item === undefined) return undefined;
      text += i > 0 ? `,${item}` : item;
    }
    return `${text}]`;
  }
  if (typeof value !== 'object' || !isPlainObject(value)) return undefined;
  const keys = Object.keys(value);
  if (keys.length > 1) keys.sort();
  let text = '{';
  let first = true;
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    const raw = (value as Record<string, unknown>)[key];
    if (raw === undefined) continue;
    const item = canonicalFast(raw);
    if (item === undefined) return undefined;
    text += first ? keyText(key) + item : `,${keyText(key)}${item}`;
    first = false;
  }
  return `${text}}`;
}
