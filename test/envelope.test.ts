// Envelope encryption of the service's secrets: each value under its own data key, the data key under
// a master key, both bound to tenant and name; master keys loaded and checked from env or a file.
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { UserError } from '../src/errors.ts';
import { MasterKeys, openValue, rewrapValue, sealValue, SecretUnreadableError, type SealedValue } from '../src/service/secrets/envelope.ts';
import { loadMasterKeys, parseMasterKey } from '../src/service/secrets/masterKeys.ts';

const VALUE = 'ghp_envelopeCanary0123456789abcdef';
const acme = { tenantId: 'acme', name: 'github_token' };

const throws = (action: () => unknown): Error => {
  try {
    action();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected it to throw');
};

/** The sealed text with one byte of its decoded body flipped. */
const flip = (text: string, at = 20) => {
  const bytes = Buffer.from(text.slice(3), 'base64');
  bytes[at] = (bytes[at] as number) ^ 1;
  return `v1.${bytes.toString('base64')}`;
};

test('a sealed value opens to itself, and no part of the sealed form holds the value', () => {
  const keys = new MasterKeys(randomBytes(32));
  const sealed = sealValue(keys, VALUE, acme);
  assert.is(openValue(keys, sealed, acme), VALUE);
  const stored = JSON.stringify(sealed);
  for (const form of [VALUE, Buffer.from(VALUE).toString('base64'), Buffer.from(VALUE).toString('hex'), VALUE.slice(4, 16)]) assert.not.ok(stored.includes(form));
  const again = sealValue(keys, VALUE, acme);
  assert.is.not(again.ciphertext, sealed.ciphertext, 'a fresh data key and IV each time');
  assert.is.not(again.wrappedKey, sealed.wrappedKey);
  assert.is(sealed.keyId, keys.currentId);
});

test('a value opened under another tenant or name fails to authenticate, saying so without the value', () => {
  const keys = new MasterKeys(randomBytes(32));
  const sealed = sealValue(keys, VALUE, acme);
  for (const binding of [{ tenantId: 'globex', name: 'github_token' }, { tenantId: 'acme', name: 'other_token' }]) {
    const error = throws(() => openValue(keys, sealed, binding));
    assert.instance(error, SecretUnreadableError);
    assert.match(error.message, new RegExp(`Secret "${binding.name}" of tenant "${binding.tenantId}" could not be decrypted`));
    assert.match(error.message, /copied from another tenant or name/);
    assert.not.ok(error.message.includes(VALUE));
  }
});

test('a tampered ciphertext or wrapped key is refused', () => {
  const keys = new MasterKeys(randomBytes(32));
  const sealed = sealValue(keys, VALUE, acme);
  const tampered: SealedValue[] = [
    { ...sealed, ciphertext: flip(sealed.ciphertext) },
    { ...sealed, ciphertext: flip(sealed.ciphertext, 2) },
    { ...sealed, wrappedKey: flip(sealed.wrappedKey) },
    { ...sealed, ciphertext: sealed.ciphertext.slice(0, 10) },
    { ...sealed, ciphertext: sealed.ciphertext.replace(/^v1\./, 'v9.') },
  ];
  for (const row of tampered) {
    const error = throws(() => openValue(keys, row, acme));
    assert.instance(error, SecretUnreadableError);
    assert.match(error.message, /does not authenticate/);
  }
});

test('rotation re-wraps the data key under the new master key, keeping the ciphertext; the old key can then go', () => {
  const old = randomBytes(32);
  const fresh = randomBytes(32);
  const sealed = sealValue(new MasterKeys(old), VALUE, acme);
  const rotating = new MasterKeys(fresh, [old]);
  assert.equal(rotating.ids, [MasterKeys.idOf(fresh), MasterKeys.idOf(old)]);
  assert.is(openValue(rotating, sealed, acme), VALUE, 'a previous key still reads');
  const rewrapped = rewrapValue(rotating, sealed, acme);
  assert.is(rewrapped.keyId, MasterKeys.idOf(fresh));
  assert.is(rewrapped.ciphertext, sealed.ciphertext, 'the value is not re-encrypted');
  assert.is.not(rewrapped.wrappedKey, sealed.wrappedKey);
  assert.is(rewrapValue(rotating, rewrapped, acme), rewrapped, 'already current: unchanged');
  assert.is(openValue(new MasterKeys(fresh), rewrapped, acme), VALUE);
  const missing = throws(() => openValue(new MasterKeys(fresh), sealed, acme));
  assert.instance(missing, SecretUnreadableError);
  assert.match(missing.message, new RegExp(`wrapped by master key ${MasterKeys.idOf(old)}, which is not loaded \\(loaded: ${MasterKeys.idOf(fresh)}\\)`));
  assert.match(missing.message, /STATECRAFT_MASTER_KEY_PREVIOUS/);
});

test('a master key id is derived from the key: the same key, the same id; another key, another', () => {
  const key = randomBytes(32);
  assert.is(MasterKeys.idOf(key), MasterKeys.idOf(Buffer.from(key)));
  assert.match(MasterKeys.idOf(key), /^[0-9a-f]{16}$/);
  assert.is.not(MasterKeys.idOf(key), MasterKeys.idOf(randomBytes(32)));
});

test('master keys from the environment are checked: base64, 32 bytes, never quoted in the error', () => {
  const key = randomBytes(32);
  const loaded = loadMasterKeys({ env: { STATECRAFT_MASTER_KEY: key.toString('base64') } });
  assert.is(loaded?.currentId, MasterKeys.idOf(key));
  assert.is(loadMasterKeys({ env: {} }), undefined, 'none set: none loaded');
  const short = randomBytes(16).toString('base64');
  const cases: [string, RegExp][] = [
    [short, /STATECRAFT_MASTER_KEY decodes to 16 bytes; a master key is 32 bytes \(AES-256\)\. Make one with: openssl rand -base64 32/],
    ['not base64 at all!', /STATECRAFT_MASTER_KEY is not base64/],
    ['   ', /STATECRAFT_MASTER_KEY is empty/],
  ];
  for (const [text, message] of cases) {
    const error = throws(() => loadMasterKeys({ env: { STATECRAFT_MASTER_KEY: text } }));
    assert.instance(error, UserError);
    assert.match(error.message, message);
    if (text.trim()) assert.not.ok(error.message.includes(text.trim()), 'the key is not quoted');
  }
  const previous = randomBytes(32);
  const both = loadMasterKeys({ env: { STATECRAFT_MASTER_KEY: key.toString('base64'), STATECRAFT_MASTER_KEY_PREVIOUS: `${previous.toString('base64')}, ` } });
  assert.equal(both?.ids, [MasterKeys.idOf(key), MasterKeys.idOf(previous)]);
  assert.match(throws(() => loadMasterKeys({ env: { STATECRAFT_MASTER_KEY_PREVIOUS: previous.toString('base64') } })).message, /no current master key is: set STATECRAFT_MASTER_KEY/);
  assert.match(throws(() => loadMasterKeys({ env: { STATECRAFT_MASTER_KEY: key.toString('base64'), STATECRAFT_MASTER_KEY_PREVIOUS: 'abc' } })).message, /Key 1 of STATECRAFT_MASTER_KEY_PREVIOUS/);
  assert.is(parseMasterKey(key.toString('base64url'), 'x').equals(key), true, 'base64url is read too');
});

test('a master key file holds the current key first and previous keys after; loose modes and two sources are refused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'statecraft-master-key-'));
  const [current, previous] = [randomBytes(32), randomBytes(32)];
  const file = join(dir, 'master.key');
  writeFileSync(file, `# made for the test\n${current.toString('base64')}\n\n${previous.toString('base64')}\n`, { mode: 0o600 });
  assert.equal(loadMasterKeys({ file })?.ids, [MasterKeys.idOf(current), MasterKeys.idOf(previous)]);
  assert.match(throws(() => loadMasterKeys({ file, env: { STATECRAFT_MASTER_KEY: current.toString('base64') } })).message, /Both STATECRAFT_MASTER_KEY and a master key file .* are set/);
  chmodSync(file, 0o644);
  assert.match(throws(() => loadMasterKeys({ file })).message, /has mode 644, readable or writable by group or others; expected 600 or stricter. Run `chmod 600/);
  const bad = join(dir, 'bad.key');
  writeFileSync(bad, `${current.toString('base64')}\n${randomBytes(31).toString('base64')}\n`, { mode: 0o600 });
  assert.match(throws(() => loadMasterKeys({ file: bad })).message, /Line 2 of the master key file .*bad\.key decodes to 31 bytes/);
  assert.match(throws(() => loadMasterKeys({ file: join(dir, 'absent.key') })).message, /could not be read \(ENOENT\)/);
});

test('a master key of the wrong size is refused by the keyring too', () => {
  const error = throws(() => new MasterKeys(randomBytes(24)));
  assert.instance(error, UserError);
  assert.match(error.message, /must be 32 bytes; found 24/);
});

test.run();
