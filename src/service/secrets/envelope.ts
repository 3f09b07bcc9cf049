import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { StorageError, UserError } from '../../errors.ts';

/** Bytes of a master key and of each data key: AES-256. */
export const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** The prefix of every sealed text: the scheme, so that a later one can be told apart. */
const SCHEME = 'v1.';

/** A secret value as it is stored: the value under its own data key, the data key under a master key. */
export interface SealedValue {
  /** Which master key wraps the data key (see `MasterKeys.idOf`). */
  keyId: string;
  /** The data key, encrypted by the master key: `v1.` and base64 of IV, tag and ciphertext. */
  wrappedKey: string;
  /** The value, encrypted by the data key: `v1.` and base64 of IV, tag and ciphertext. */
  ciphertext: string;
}

/** What a sealed value is bound to: opened under another tenant or name, it fails to authenticate. */
export interface SecretBinding {
  tenantId: string;
  name: string;
}

/** A sealed value that does not authenticate, or whose master key is not loaded. */
export class SecretUnreadableError extends StorageError {}

/**
 * The master keys the service holds: one current key that wraps every new data key, and previous
 * ones that are only read, so that values wrapped before a rotation stay readable until re-wrapped.
 * @example
 * const keys = new MasterKeys(randomBytes(32));
 * const sealed = sealValue(keys, 'ghp_…', { tenantId: 'acme', name: 'github_token' });
 */
export class MasterKeys {
  readonly #keys = new Map<string, Buffer>();
  /** Id of the key that wraps new data keys. */
  readonly currentId: string;

  constructor(current: Buffer, previous: readonly Buffer[] = []) {
    for (const key of [current, ...previous]) {
      if (key.length !== KEY_BYTES) throw new UserError(`A master key must be ${KEY_BYTES} bytes; found ${key.length}. Make one with: openssl rand -base64 32`);
      const id = MasterKeys.idOf(key);
      if (!this.#keys.has(id)) this.#keys.set(id, Buffer.from(key));
    }
    this.currentId = MasterKeys.idOf(current);
  }

  /** A key's id: derived from the key (HMAC-SHA-256, 16 hex digits), so the same key always has the same id and none is stored. */
  static idOf(key: Buffer): string {
    return createHmac('sha256', key).update('statecraft master key id').digest('hex').slice(0, 16);
  }

  /** Ids of the loaded keys, the current first. */
  get ids(): string[] {
    return [...this.#keys.keys()];
  }

  /** The key with this id, or undefined when it is not loaded. */
  key(id: string): Buffer | undefined {
    return this.#keys.get(id);
  }
}

const aad = (purpose: 'value' | 'data-key', binding: SecretBinding, keyId?: string) =>
  Buffer.from(JSON.stringify(['statecraft-secret', 1, purpose, binding.tenantId, binding.name, ...(keyId === undefined ? [] : [keyId])]), 'utf8');

function encrypt(key: Buffer, plaintext: Buffer, additional: Buffer): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(additional);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return SCHEME + Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64');
}

/** The plaintext, or undefined when the text is not of this scheme or does not authenticate. */
function decrypt(key: Buffer, sealed: string, additional: Buffer): Buffer | undefined {
  if (!sealed.startsWith(SCHEME)) return undefined;
  const bytes = Buffer.from(sealed.slice(SCHEME.length), 'base64');
  if (bytes.length < IV_BYTES + TAG_BYTES) return undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, IV_BYTES), { authTagLength: TAG_BYTES });
    decipher.setAAD(additional);
    decipher.setAuthTag(bytes.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    return Buffer.concat([decipher.update(bytes.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]);
  } catch {
    return undefined;
  }
}

const which = (binding: SecretBinding) => `Secret "${binding.name}" of tenant "${binding.tenantId}"`;

/** The data key of a sealed value, unwrapped with the master key it names; refused with the reason. */
function unwrap(keys: MasterKeys, sealed: SealedValue, binding: SecretBinding): Buffer {
  const master = keys.key(sealed.keyId);
  if (!master) {
    throw new SecretUnreadableError(
      `${which(binding)} is wrapped by master key ${sealed.keyId}, which is not loaded (loaded: ${keys.ids.join(', ')}). ` +
        'Pass that key as a previous master key (STATECRAFT_MASTER_KEY_PREVIOUS, or a later line of the master key file), or set the secret again.',
    );
  }
  const dataKey = decrypt(master, sealed.wrappedKey, aad('data-key', binding, sealed.keyId));
  if (!dataKey || dataKey.length !== KEY_BYTES) {
    throw new SecretUnreadableError(
      `${which(binding)} could not be decrypted: its wrapped data key does not authenticate under master key ${sealed.keyId}. ` +
        'The stored row was altered, or copied from another tenant or name; set the secret again.',
    );
  }
  return dataKey;
}

/** Encrypts `value` under a new random data key, wrapped by the current master key; both bound to tenant and name. */
export function sealValue(keys: MasterKeys, value: string, binding: SecretBinding): SealedValue {
  const dataKey = randomBytes(KEY_BYTES);
  try {
    const master = keys.key(keys.currentId) as Buffer;
    return {
      keyId: keys.currentId,
      wrappedKey: encrypt(master, dataKey, aad('data-key', binding, keys.currentId)),
      ciphertext: encrypt(dataKey, Buffer.from(value, 'utf8'), aad('value', binding)),
    };
  } finally {
    dataKey.fill(0);
  }
}

/** The value of a sealed secret; a SecretUnreadableError (which never quotes the value) when it cannot be read. */
export function openValue(keys: MasterKeys, sealed: SealedValue, binding: SecretBinding): string {
  const dataKey = unwrap(keys, sealed, binding);
  try {
    const plain = decrypt(dataKey, sealed.ciphertext, aad('value', binding));
    if (!plain) {
      throw new SecretUnreadableError(
        `${which(binding)} could not be decrypted: its ciphertext does not authenticate. The stored row was altered, or copied from another tenant or name; set the secret again.`,
      );
    }
    return plain.toString('utf8');
  } finally {
    dataKey.fill(0);
  }
}

/** The same sealed value with its data key wrapped by the current master key; the value's ciphertext is kept as it is. */
export function rewrapValue(keys: MasterKeys, sealed: SealedValue, binding: SecretBinding): SealedValue {
  if (sealed.keyId === keys.currentId) return sealed;
  const dataKey = unwrap(keys, sealed, binding);
  try {
    const master = keys.key(keys.currentId) as Buffer;
    return { keyId: keys.currentId, wrappedKey: encrypt(master, dataKey, aad('data-key', binding, keys.currentId)), ciphertext: sealed.ciphertext };
  } finally {
    dataKey.fill(0);
  }
}
