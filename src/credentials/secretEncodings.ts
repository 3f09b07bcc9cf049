/** Shortest value the redactor tracks; anything shorter matches too much ordinary text. */
export const MIN_SECRET_LENGTH = 4;

/**
 * Fewest consecutive characters of a secret that are redacted wherever they appear, alone or encoded:
 * a secret cut into pieces (two fields of a result, two results, two streamed chunks) is caught piece
 * by piece when each piece has this many. Eight characters of a random token match ordinary text by
 * chance about once in 10^14 tries; shorter pieces would start to catch words and identifiers.
 */
export const MIN_PIECE = 8;

/** Eight bytes at any offset leave at least this many base64 characters that depend on them alone. */
const BASE64_PIECE = Math.floor((MIN_PIECE * 8) / 6);

/** Base64 fragments shorter than this are not used: they would match unrelated text. */
const MIN_ALIGNED_FRAGMENT = 8;

/** One way a secret may appear in text, and how many of its characters carry `MIN_PIECE` characters of the secret. */
export interface SecretForm {
  text: string;
  piece: number;
}

/**
 * Returns the distinct forms in which `value` may appear in text: raw, JSON-escaped (once and twice),
 * URL-encoded, hex and base64/base64url (including the stable middle of its encoding at any offset).
 * @example
 * secretEncodings('sk-abc123').map((form) => form.text) // ['sk-abc123', ..., '736b2d616263313233', 'c2stYWJjMTIz', ...]
 */
export function secretEncodings(value: string): SecretForm[] {
  const forms = new Map<string, number>();
  const add = (text: string, piece: number) => {
    if (text.length >= MIN_SECRET_LENGTH && !forms.has(text)) forms.set(text, piece);
  };
  add(value, MIN_PIECE);
  const jsonOnce = JSON.stringify(value).slice(1, -1);
  add(jsonOnce, MIN_PIECE);
  add(JSON.stringify(jsonOnce).slice(1, -1), MIN_PIECE);
  const url = encodeURIComponent(value);
  add(url, MIN_PIECE);
  add(url.replace(/%20/g, '+'), MIN_PIECE);
  add(url.replace(/%[0-9A-F]{2}/g, (escape) => escape.toLowerCase()), MIN_PIECE);
  const bytes = Buffer.from(value, 'utf8');
  const hex = bytes.toString('hex');
  add(hex, 2 * MIN_PIECE);
  add(hex.toUpperCase(), 2 * MIN_PIECE);
  for (const base64 of alignedBase64(bytes)) {
    add(base64, BASE64_PIECE);
    add(base64.replace(/\+/g, '-').replace(/\//g, '_'), BASE64_PIECE);
  }
  return [...forms].map(([text, piece]) => ({ text, piece }));
}

/**
 * The characters of the value's base64 encoding that do not depend on neighbouring bytes, for each of
 * the three byte offsets at which it can start inside a larger encoded string (HTTP Basic auth encodes
 * `user:password` together, so the password rarely starts on a 3-byte boundary).
 */
function alignedBase64(bytes: Buffer): string[] {
  const full = bytes.toString('base64');
  const fragments = [full, full.replace(/=+$/, '')];
  for (let offset = 0; offset < 3; offset++) {
    const encoded = Buffer.concat([Buffer.alloc(offset), bytes]).toString('base64');
    const start = Math.ceil((offset * 8) / 6);
    const end = Math.floor(((offset + bytes.length) * 8) / 6);
    const fragment = encoded.slice(start, end);
    if (fragment.length >= MIN_ALIGNED_FRAGMENT) fragments.push(fragment);
  }
  return fragments;
}
