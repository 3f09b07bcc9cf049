import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { UserError } from '../../errors.ts';
import { SCOPES, type ApiKeyRecord, type Scope, type ServiceStore } from '../store/ServiceStore.ts';

/** `sck_<key id>_<secret>`: the id finds the stored key, the secret is compared with its hash. */
const KEY_PATTERN = /^sck_([a-z0-9]{16})_([A-Za-z0-9_-]{43})$/;
/** Anything that looks like a key, for redaction (a key pasted into a log line or an error). */
export const KEY_LIKE = /sck_[a-z0-9]{16}_[A-Za-z0-9_-]{20,}/g;

const hashOf = (secret: string): string => createHash('sha256').update(secret).digest('hex');

/** A tenant id: what a key belongs to; short, plain, safe in a URL and a log line. */
export const TENANT_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export interface NewKey {
  tenantId: string;
  name?: string;
  scopes: readonly string[];
  /** When the key stops working. */
  expiresAt?: Date;
}

/** Checks scope names, naming the unknown ones and the known. */
export function parseScopes(scopes: readonly string[]): Scope[] {
  const unknown = scopes.filter((scope) => !(SCOPES as readonly string[]).includes(scope));
  if (unknown.length) throw new UserError(`Unknown scope ${unknown.map((scope) => `"${scope}"`).join(', ')}: use ${SCOPES.join(', ')} (comma-separated).`);
  if (!scopes.length) throw new UserError(`A key needs at least one scope: ${SCOPES.join(', ')}.`);
  return [...new Set(scopes)] as Scope[];
}

/**
 * Makes an API key and stores its hash; the key itself is returned once, here, and never stored.
 * @example
 * const { key } = await createApiKey(service, { tenantId: 'acme', scopes: ['runs:create', 'runs:read'] });
 */
export async function createApiKey(store: ServiceStore, options: NewKey): Promise<{ key: string; record: ApiKeyRecord }> {
  if (!TENANT_PATTERN.test(options.tenantId)) {
    throw new UserError(`Tenant id "${options.tenantId}" is not allowed: use 1 to 63 letters, digits, dots, dashes and underscores, starting with a letter or digit.`);
  }
  const scopes = parseScopes(options.scopes);
  if (options.expiresAt && !(options.expiresAt.getTime() > Date.now())) {
    throw new UserError(`The key's expiry ${options.expiresAt.toISOString()} is not in the future: give a later time or an age such as 30d.`);
  }
  const keyId = randomBytes(8).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  const record: ApiKeyRecord = {
    keyId,
    tenantId: options.tenantId,
    name: options.name ?? '',
    hash: hashOf(secret),
    scopes,
    createdAt: new Date().toISOString(),
    ...(options.expiresAt ? { expiresAt: options.expiresAt.toISOString() } : {}),
  };
  await store.addKey(record);
  return { key: `sck_${keyId}_${secret}`, record };
}

/** Why a presented key was refused; `keyId` when the key named one. */
export type KeyRefusal = { reason: 'missing' | 'malformed' | 'unknown' | 'revoked' | 'expired'; keyId?: string; at?: string };

/**
 * The stored key a presented key is, or why it is refused. A secret that does not match reads as an
 * unknown key: only the holder of the secret learns that a key was revoked or expired.
 */
export async function verifyApiKey(store: ServiceStore, presented: string | undefined, now = new Date()): Promise<ApiKeyRecord | KeyRefusal> {
  if (presented === undefined || presented === '') return { reason: 'missing' };
  const match = KEY_PATTERN.exec(presented);
  if (!match) return { reason: 'malformed' };
  const [, keyId, secret] = match as unknown as [string, string, string];
  const record = await store.key(keyId);
  // Hashed whether or not the key exists, so that the answer takes as long either way.
  const given = Buffer.from(hashOf(secret), 'hex');
  const stored = Buffer.from(record?.hash ?? '0'.repeat(64), 'hex');
  if (!record || given.length !== stored.length || !timingSafeEqual(given, stored)) return { reason: 'unknown', keyId };
  if (record.revokedAt) return { reason: 'revoked', keyId, at: record.revokedAt };
  if (record.expiresAt && Date.parse(record.expiresAt) <= now.getTime()) return { reason: 'expired', keyId, at: record.expiresAt };
  return record;
}

export const isRefusal = (value: ApiKeyRecord | KeyRefusal): value is KeyRefusal => 'reason' in value;

/** What a person is told about a refused key, as the CLI would say it. */
export function refusalText(refusal: KeyRefusal): string {
  switch (refusal.reason) {
    case 'missing':
      return 'This request needs an API key: send it as "Authorization: Bearer sck_…". Create one with `npx statecraft keys create --tenant <tenant> --scopes runs:create,runs:read`.';
    case 'malformed':
      return 'The API key is not in the form "sck_<16 characters>_<43 characters>": send the whole key as `statecraft keys create` printed it, after "Bearer ".';
    case 'unknown':
      return 'The API key is not valid: no key with this id and secret exists. Check that the whole key was sent, or create a new one with `npx statecraft keys create`.';
    case 'revoked':
      return `The API key ${refusal.keyId} was revoked at ${refusal.at}: ask an admin of your tenant for a new one (\`npx statecraft keys create\`).`;
    case 'expired':
      return `The API key ${refusal.keyId} expired at ${refusal.at}: ask an admin of your tenant for a new one (\`npx statecraft keys create --expires 30d\`).`;
  }
}

/** An expiry from an ISO time or an age such as 30d, 12h, 45m. */
export function parseExpiry(text: string, now = Date.now()): Date {
  const age = /^(\d+)([mhd])$/.exec(text);
  if (age) return new Date(now + Number(age[1]) * { m: 60_000, h: 3_600_000, d: 86_400_000 }[age[2] as 'm' | 'h' | 'd']);
  const at = Date.parse(text);
  if (Number.isNaN(at)) throw new UserError(`--expires must be an ISO time (2027-01-31T00:00Z) or an age (45m, 12h, 30d), found "${text}".`);
  return new Date(at);
}
