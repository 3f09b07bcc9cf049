import type { MiddlewareHandler } from 'hono';
import { isRefusal, refusalText, verifyApiKey } from '../auth/apiKeys.ts';
import type { SharedLimits } from '../limits/SharedLimits.ts';
import type { ApiKeyRecord, Scope, ServiceStore } from '../store/ServiceStore.ts';
import type { Logger } from './jsonLog.ts';
import { ProblemError } from './problem.ts';
import type { ServiceEnv } from './serviceEnv.ts';

/** The caller a request was authenticated as. */
export interface Principal {
  key: ApiKeyRecord;
  tenantId: string;
}

/** Failed authentications one client may make within a window, counted across instances by the shared limits. */
export interface AuthFailures {
  limits: SharedLimits;
  max: number;
  windowMs: number;
}

/** Authenticates the request's bearer key and remembers who sent it; refusals are logged, never with the key. */
export function authGuard(store: ServiceStore, failures: AuthFailures, logger: Logger): MiddlewareHandler<ServiceEnv> {
  return async (c, next) => {
    const client = c.get('client');
    const counted = await failures.limits.failuresOf(client);
    const wait = counted.used >= failures.max ? counted.msLeft : 0;
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
      const { used: count } = await failures.limits.failed(client);
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
