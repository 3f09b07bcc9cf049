import { crc32, deflateSync, inflateSync } from 'node:zlib';

/**
 * How stores keep record text: zlib deflate with a preset dictionary of the strings every agent run
 * repeats (patch ops, event types, context paths). Record bodies shrink about 3x and snapshots about
 * 10x, and zlib's Adler-32 check makes any damaged byte fail the read. The first byte names the codec,
 * so rows written with a later dictionary stay readable; a dictionary, once released, never changes.
 */
const DICTIONARY_V1 = Buffer.from(
  [
    '{"v":1,"seq":',
    ',"time":"20',
    '","event":{"type":"xstate.done.actor.callModel","output":{"message":{"role":"assistant","content":null,"toolCalls":[{"id":"call_',
    '","name":"","arguments":"{\\"',
    '"}]},"usage":{"inputTokens":',
    ',"outputTokens":',
    '},"costUsd":0,"model":"',
    '","at":17',
    '{"type":"xstate.done.actor.executeTools","actorId":"executeTools"}',
    '{"type":"TOOL_STARTED","callId":"call_',
    '{"type":"TOOL_FINISHED","callId":"call_',
    '","outcome":{"content":"',
    '","isError":false,"truncated":false,"attempts":1,"durationMs":',
    '"state":"execute","patch":[',
    '"state":"infer","patch":[',
    '"state":"awaitingApproval","patch":[',
    '{"op":"replace","path":"/value","value":"infer"}',
    '{"op":"replace","path":"/value","value":"execute"}',
    '{"op":"add","path":"/context/messages/',
    '","value":{"role":"tool","toolCallId":"call_',
    '{"op":"replace","path":"/context/step","value":',
    '{"op":"replace","path":"/context/usage/inputTokens","value":',
    '{"op":"replace","path":"/context/usage/outputTokens","value":',
    '{"op":"replace","path":"/context/costUsd","value":',
    '{"op":"replace","path":"/context/turn","value":{"step":',
    ',"startedAt":17',
    ',"calls":[{"id":"call_',
    '","status":"ready","argsHash":"',
    '","policy":{"decision":"allow","source":"default"}}]}}',
    '{"op":"replace","path":"/context/turn/calls/0/status","value":"running"}',
    '{"op":"replace","path":"/context/turn/calls/0/status","value":"done"}',
    '{"op":"add","path":"/context/turn/calls/0/outcome","value":{"content":"',
    '{"op":"remove","path":"/children/callModel"}',
    '{"op":"remove","path":"/children/executeTools"}',
    '{"op":"add","path":"/children/executeTools","value":{"snapshot":{"status":"active","input":{"step":',
    '}},"src":"executeTools","syncSnapshot":false}}',
    '{"op":"add","path":"/children/callModel","value":{"snapshot":{"status":"active","input":{"step":',
    '}},"src":"callModel","syncSnapshot":false}}',
    '],"checksum":"',
  ].join(''),
);

const ZLIB_V1 = 0x01;
const PLAIN_CRC32 = 0x02;
/**
 * Up to this many characters, text is stored as is with a CRC-32. Compressing it would save a few
 * hundred bytes, but each zlib call costs 15 to 20 us to set up whatever the size (more inside a busy
 * run), on every write and every read: a 1,000-step run's history listing went from 42 to 18 ms
 * when its 1,000 model-answer bodies (about 370 characters) stopped being compressed, and the run
 * grew from 1.88 to 2.43 MB.
 */
const COMPRESS_ABOVE = 512;

/**
 * Most record texts are under a few KB: a 4 KB window (still holding the whole dictionary) and a
 * smaller hash table compress them to the same size, and zlib sets up and tears down its state for
 * each call, which costs less the smaller it is (deflate about 25% and inflate about 35% faster,
 * measured on a long run's records). Any zlib reader reads either.
 */
const SMALL_WINDOW_BELOW = 4096;
const SMALL_TEXT = { level: 1, windowBits: 12, memLevel: 4, dictionary: DICTIONARY_V1 };
const LARGE_TEXT = { level: 1, dictionary: DICTIONARY_V1 };

/** Encode record text for a store: compressed when it is worth it, always with an integrity check. */
export function encodeText(text: string): Buffer {
  if (text.length <= COMPRESS_ABOVE) {
    const out = Buffer.allocUnsafe(Buffer.byteLength(text, 'utf8') + 5);
    out[0] = PLAIN_CRC32;
    out.write(text, 5, 'utf8');
    out.writeUInt32BE(crc32(out.subarray(5)), 1);
    return out;
  }
  const packed = deflateSync(text, text.length < SMALL_WINDOW_BELOW ? SMALL_TEXT : LARGE_TEXT);
  const out = Buffer.allocUnsafe(packed.length + 1);
  out[0] = ZLIB_V1;
  packed.copy(out, 1);
  return out;
}

/** Stored data names a codec this build does not know: it was written by a later version of Statecraft. */
export class UnknownEncodingError extends Error {
  readonly encoding: number;
  constructor(encoding: number) {
    super(`unknown record encoding 0x${encoding.toString(16)}`);
    this.encoding = encoding;
  }
}

/**
 * Codecs after these two keep one envelope, so that a reader that does not know one can tell it from
 * a damaged first byte: byte 0 names the codec and bytes 1 to 4 hold the CRC-32 of byte 0 and of
 * everything after byte 4. Unknown bytes whose envelope does not check out are damage.
 */
function isEnvelopeIntact(bytes: Buffer): boolean {
  if (bytes.length < 5) return false;
  return crc32(bytes.subarray(5), crc32(bytes.subarray(0, 1))) === bytes.readUInt32BE(1);
}

/** True when stored data went through a codec whose integrity check the decoder applies. */
export const isChecked = (stored: string | Uint8Array) => typeof stored !== 'string';

/** Decode what `encodeText` wrote; plain text passes through. Throws on any damaged byte, the first included. */
export function decodeText(stored: string | Uint8Array): string {
  if (typeof stored === 'string') return stored;
  const bytes = Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength);
  if (bytes[0] === PLAIN_CRC32) {
    const body = bytes.subarray(5);
    if (bytes.length < 5 || crc32(body) !== bytes.readUInt32BE(1)) throw new Error('incorrect data check');
    return body.toString('utf8');
  }
  if (bytes[0] === ZLIB_V1) return inflateSync(bytes.subarray(1), { dictionary: DICTIONARY_V1 }).toString('utf8');
  if (bytes.length > 0 && isEnvelopeIntact(bytes)) throw new UnknownEncodingError(bytes[0]!);
  throw new Error(`incorrect data check: the first byte (0x${(bytes[0] ?? 0).toString(16)}) names no codec and the data does not check out as a later one`);
}
