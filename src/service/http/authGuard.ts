import type { MiddlewareHandler } from 'hono';
import { isRefusal, refusalText, verifyApiKey } from '../auth/apiKeys.ts';
import type { ApiKeyRecord, Scope, ServiceStore } from '../store/ServiceStore.ts';
import type { Logger } from './jsonLog.ts';
import { ProblemError } from './problem.ts';
import type { ServiceEnv } from './serviceEnv.ts';

/** The caller a request was authenticated as. */
export interface Principal {
  key: ApiKeyRecord;
  tenantId: string;
}

/**
 * Counts failed authentications per client within a window; a client over the limit is refused
 * (429) until its window ends, whatever key it sends then. Kept in memory per instance for now;
 * the shared rate limits will back it by the database.
 */
export class AuthFailures {
  readonly #clients = new Map<string, { count: number; since: number }>();
  constructor(
    readonly max: number,
    readonly windowMs: number,
  ) {}

  /** Milliseconds until the client may try again, or 0 when it may now. */
  blockedFor(client: string, now = Date.now()): number {
    const entry = this.#clients.get(client);
    if (!entry || now - entry.since >= this.windowMs) return 0;
    return entry.count >= this.max ? entry.since + this.windowMs - now : 0;
  }

  /** Counts one failure; returns the client's count in its window. */
  fail(client: string, now = Date.now()): number {
    let entry = this.#clients.get(client);
    if (!entry || now - entry.since >= this.windowMs) {
      entry = { count: 0, since: now };
      this.#clients.set(client, entry);
    }
    entry.count += 1;
    if (this.#clients.size > 10_000) for (const [key, value] of this.#clients) if (now - value.since >= this.windowMs) this.#clients.delete(key);
    return entry.count;
  }
}

/** Authenticates the request's bearer key and remembers who sent it; refusals are logged, never with the key. */
export function authGuard(store: ServiceStore, failures: AuthFailures, logger: Logger): MiddlewareHandler<ServiceEnv> {
  return async (c, next) => {
    const client = c.get('client');
    const wait = failures.blockedFor(client);
    if (wait > 0) {
      const retryAfter = String(Math.ceil(wait / 1000));
      logger.log('warn', 'auth.blocked', { requestId: c.get('requestId'), client, retryAfterS: Number(retryAfter) });
      throw new ProblemError(429, 'too-many-failed-authentications', 'Too many failed authentications',
        `This client sent ${failures.max} requests with a missing or invalid API key within ${failures.windowMs / 1000} s, so its requests are refused for ${retryAfter} s. Check the key it sends.`,
        { headers: { 'retry-after': retryAfter } });
    }
    const header = c.req.header('authorization');
    const presented = header === undefined ? undefined : /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1] ?? '\u0000';
    const verified = await verifyApiKey(store, presented);
    if (isRefusal(verified)) {
      const count = failures.fail(client);
      logger.log('warn', 'auth.refused', { requestId: c.get('requestId'), client, reason: verified.reason, ...(verified.keyId ? { keyId: verified.keyId } : {}), failures: count });
      throw new ProblemError(401, `key-${verified.reason}`, 'Not authenticated', refusalText(verified), { headers: { 'www-authenticate': 'Bearer realm="statecraft"' } });
    }
    c.set('principal', { key: verified, tenantId: verified.tenantId });
    await next();
  };
}

/** Refuses a key without one of the scopes (admin holds them all). */
export function requireScope(principal: Principal, scope: Scope): void {
  if (principal.key.scopes.includes(scope) || principal.key.scopes.includes('admin')) return;
  throw new ProblemError(403, 'missing-scope', 'Missing scope',
    `API key ${principal.key.keyId} does not have the scope "${scope}" (it has ${principal.key.scopes.join(', ')}): use a key with it, or create one with \`npx statecraft keys create --tenant ${principal.tenantId} --scopes ${scope}\`.`);
}
