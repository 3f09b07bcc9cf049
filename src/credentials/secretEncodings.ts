/** Shortest value the redactor tracks; anything shorter matches too much ordinary text. */
export const MIN_SECRET_LENGTH = 4;

/** Base64 fragments shorter than this are not used: they would match unrelated text. */
const MIN_ALIGNED_FRAGMENT = 8;

/**
 * Returns the distinct forms in which `value` may appear in text: raw, JSON-escaped (once and twice),
 * URL-encoded, hex and base64/base64url (including the stable middle of its encoding at any offset).
 * @example
 * secretEncodings('sk-abc123') // ['sk-abc123', 'c2stYWJjMTIz', '736b2d616263313233', ...]
 */
export function secretEncodings(value: string): string[] {
  const forms = new Set<string>([value]);
  const jsonOnce = JSON.stringify(value).slice(1, -1);
  forms.add(jsonOnce);
  forms.add(JSON.stringify(jsonOnce).slice(1, -1));
  const url = encodeURIComponent(value);
  forms.add(url);
  forms.add(url.replace(/%20/g, '+'));
  forms.add(url.replace(/%[0-9A-F]{2}/g, (escape) => escape.toLowerCase()));
  const bytes = Buffer.from(value, 'utf8');
  const hex = bytes.toString('hex');
  forms.add(hex);
  forms.add(hex.toUpperCase());
  for (const base64 of alignedBase64(bytes)) {
    forms.add(base64);
    forms.add(base64.replace(/\+/g, '-').replace(/\//g, '_'));
  }
  return [...forms].filter((form) => form.length >= MIN_SECRET_LENGTH);
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
