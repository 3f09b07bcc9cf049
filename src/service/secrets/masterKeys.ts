import { readFileSync, statSync } from 'node:fs';
import { UserError } from '../../errors.ts';
import { KEY_BYTES, MasterKeys } from './envelope.ts';

export const MASTER_KEY_ENV = 'STATECRAFT_MASTER_KEY';
export const PREVIOUS_KEYS_ENV = 'STATECRAFT_MASTER_KEY_PREVIOUS';

const MAKE_ONE = 'Make one with: openssl rand -base64 32';
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$|^[A-Za-z0-9_-]+$/;

/** A master key from its base64 text; refused, without quoting it, when it is not base64 of 32 bytes. */
export function parseMasterKey(text: string, where: string): Buffer {
  const trimmed = text.trim();
  if (trimmed === '') throw new UserError(`${where} is empty; expected the base64 of ${KEY_BYTES} random bytes. ${MAKE_ONE}`);
  if (!BASE64.test(trimmed) || trimmed.length % 4 === 1) {
    throw new UserError(`${where} is not base64 (${trimmed.length} characters, not all of A-Z a-z 0-9 + / =); expected the base64 of ${KEY_BYTES} random bytes. ${MAKE_ONE}`);
  }
  const key = Buffer.from(trimmed, trimmed.includes('-') || trimmed.includes('_') ? 'base64url' : 'base64');
  if (key.length !== KEY_BYTES) {
    throw new UserError(`${where} decodes to ${key.length} bytes; a master key is ${KEY_BYTES} bytes (AES-256). ${MAKE_ONE}`);
  }
  return key;
}

function keysInFile(path: string): Buffer[] {
  let text: string;
  try {
    const info = statSync(path);
    if (!info.isFile()) throw new UserError(`The master key file ${path} is not a regular file; point --master-key-file to a file.`);
    if ((info.mode & 0o077) !== 0 && process.platform !== 'win32') {
      throw new UserError(`The master key file ${path} has mode ${(info.mode & 0o777).toString(8)}, readable or writable by group or others; expected 600 or stricter. Run \`chmod 600 ${path}\`.`);
    }
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if (error instanceof UserError) throw error;
    throw new UserError(`The master key file ${path} could not be read (${(error as NodeJS.ErrnoException).code ?? 'unknown error'}); create it or fix the path.`);
  }
  const lines = text.split(/\r?\n/).map((line, index) => ({ line: line.trim(), number: index + 1 })).filter(({ line }) => line !== '' && !line.startsWith('#'));
  if (!lines.length) throw new UserError(`The master key file ${path} holds no key; write the base64 of ${KEY_BYTES} random bytes on its first line. ${MAKE_ONE}`);
  return lines.map(({ line, number }) => parseMasterKey(line, `Line ${number} of the master key file ${path}`));
}

/**
 * The service's master keys: the current one from `STATECRAFT_MASTER_KEY` or from a file (its first
 * key line; later lines are previous keys), and previous keys, still read, from
 * `STATECRAFT_MASTER_KEY_PREVIOUS` (comma-separated). Undefined when no key is given: the service then
 * runs, and refuses only what needs a key. Each key is the base64 of 32 random bytes.
 * @example
 * const keys = loadMasterKeys({ env: process.env, file: '/run/secrets/statecraft-master-key' });
 */
export function loadMasterKeys(sources: { env?: NodeJS.ProcessEnv; file?: string | undefined }): MasterKeys | undefined {
  const env = sources.env ?? {};
  const fromEnv = env[MASTER_KEY_ENV];
  if (fromEnv && sources.file) {
    throw new UserError(`Both ${MASTER_KEY_ENV} and a master key file (${sources.file}) are set; give the master key one way: unset ${MASTER_KEY_ENV} or drop --master-key-file.`);
  }
  const previousText = env[PREVIOUS_KEYS_ENV] ?? '';
  const previous = previousText
    .split(/[\s,]+/)
    .filter(Boolean)
    .map((text, index) => parseMasterKey(text, `Key ${index + 1} of ${PREVIOUS_KEYS_ENV}`));
  let current: Buffer | undefined;
  if (sources.file) {
    const [first, ...older] = keysInFile(sources.file);
    current = first;
    previous.unshift(...older);
  } else if (fromEnv) current = parseMasterKey(fromEnv, MASTER_KEY_ENV);
  if (!current) {
    if (previous.length) throw new UserError(`${PREVIOUS_KEYS_ENV} is set but no current master key is: set ${MASTER_KEY_ENV} (or --master-key-file) to the new key.`);
    return undefined;
  }
  return new MasterKeys(current, previous);
}

/** The refusal for an action that needs a master key when none was given. */
export function noMasterKey(action: string): UserError {
  return new UserError(`${action} needs a master key, and none is set: set ${MASTER_KEY_ENV} to the base64 of ${KEY_BYTES} random bytes, or pass --master-key-file FILE. ${MAKE_ONE}`);
}
