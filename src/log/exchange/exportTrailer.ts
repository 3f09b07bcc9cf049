import { createHash, createPrivateKey, createPublicKey, sign, verify, type Hash, type KeyObject } from 'node:crypto';
import { UserError } from '../../errors.ts';
import { canonicalJson } from '../format/canonicalJson.ts';

/**
 * The last line of an export, `{"trailer": …}`: how many records the file holds and the SHA-256 of
 * every line before it (each line's text and a newline), so that a file cut short, even at a line
 * boundary, or changed after it was written, is refused. Signed with an Ed25519 key, it also proves
 * who exported the file: the signature covers the count and the checksum.
 */
export interface Trailer {
  records: number;
  sha256: string;
  signature?: { algorithm: 'ed25519'; key: string; value: string };
}

const KEYGEN_HINT =
  'make a key pair with `openssl genpkey -algorithm ed25519 -out signing.pem` and its public key with `openssl pkey -in signing.pem -pubout -out signing.pub.pem`';

/** What is signed: the trailer's count and checksum, as canonical JSON. */
const signedText = (trailer: Pick<Trailer, 'records' | 'sha256'>): Buffer => Buffer.from(canonicalJson({ records: trailer.records, sha256: trailer.sha256 }));

/** A key's short name: the first 16 hex digits of the SHA-256 of its public key (SPKI, DER), as errors and reports show it. */
export function keyFingerprint(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return createHash('sha256').update(pub.export({ type: 'spki', format: 'der' })).digest('hex').slice(0, 16);
}

function ed25519(key: KeyObject, source: string, kind: string): KeyObject {
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new UserError(`${source} holds a ${key.asymmetricKeyType ?? key.type} key, but exports are signed with Ed25519 keys only: ${KEYGEN_HINT}.`);
  }
  if (kind === 'private' && key.type !== 'private') {
    throw new UserError(`${source} holds a public key, which cannot sign: give the private key (PEM) it was made from.`);
  }
  return key;
}

/** The Ed25519 private key in a PEM text (`source` names where it came from, for errors). */
export function signingKey(pem: string | Buffer, source: string): KeyObject {
  try {
    return ed25519(createPrivateKey(pem), source, 'private');
  } catch (error) {
    if (error instanceof UserError) throw error;
    throw new UserError(`${source} is not a private key in PEM: ${(error as Error).message}. To sign exports, ${KEYGEN_HINT}.`, { cause: error });
  }
}

/** The Ed25519 public key in a PEM text (a private key gives its public one). */
export function verifyingKey(pem: string | Buffer, source: string): KeyObject {
  try {
    return ed25519(createPublicKey(pem), source, 'public');
  } catch (error) {
    if (error instanceof UserError) throw error;
    throw new UserError(`${source} is not a public key in PEM: ${(error as Error).message}. Give the public key of the key the export was signed with.`, { cause: error });
  }
}

/** Accumulates the lines of an export and writes its trailer. */
export class TrailerWriter {
  readonly #hash: Hash = createHash('sha256');
  #records = 0;

  /** Counts a line written before the trailer; `record` when it holds a record. */
  add(line: string, record = false): void {
    this.#hash.update(line);
    if (record) this.#records++;
  }

  /** The trailer line, signed with `key` when one is given. */
  line(key?: KeyObject): string {
    const trailer: Trailer = { records: this.#records, sha256: this.#hash.digest('hex') };
    if (key) trailer.signature = { algorithm: 'ed25519', key: keyFingerprint(key), value: sign(null, signedText(trailer), key).toString('base64') };
    return `${JSON.stringify({ trailer })}\n`;
  }
}

/** The SHA-256 of lines as the trailer counts them: each line's text and a newline. */
export function linesDigest(lines: readonly string[]): string {
  const hash = createHash('sha256');
  for (const line of lines) hash.update(`${line}\n`);
  return hash.digest('hex');
}

/** Whether a parsed line is a trailer (records carry `v`, so no record is taken for one). */
export const isTrailerLine = (json: unknown): json is { trailer: unknown } =>
  typeof json === 'object' && json !== null && !Array.isArray(json) && 'trailer' in json && !('v' in json);

/** The trailer's fields, or a description of what is wrong with them. */
export function trailerOf(json: { trailer: unknown }): Trailer | string {
  const value = json.trailer as Partial<Trailer> | null;
  if (typeof value !== 'object' || value === null) return 'it is not an object';
  if (!Number.isSafeInteger(value.records) || (value.records as number) < 0) return 'its record count is not a whole number';
  if (typeof value.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(value.sha256)) return 'its sha256 is not 64 hex digits';
  const signature = value.signature;
  if (signature !== undefined) {
    if (typeof signature !== 'object' || signature === null || signature.algorithm !== 'ed25519' || typeof signature.key !== 'string' || typeof signature.value !== 'string') {
      return 'its signature is not an Ed25519 signature ({ algorithm: "ed25519", key, value })';
    }
  }
  return value as Trailer;
}

/** Whether the trailer's signature was made by `key` over its count and checksum. */
export function signatureHolds(trailer: Trailer, key: KeyObject): boolean {
  if (!trailer.signature) return false;
  return verify(null, signedText(trailer), key, Buffer.from(trailer.signature.value, 'base64'));
}
