import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import { createApiKey } from '../auth/apiKeys.ts';
import { keyInfo } from '../store/ServiceStore.ts';
import { requireScope } from './authGuard.ts';
import { ProblemError } from './problem.ts';
import { COMMON_PROBLEMS, CreatedKeySchema, CreateKeyBody, KeyIdParam, KeySchema, problemResponses } from './schemas.ts';
import type { ServiceDeps } from './serviceDeps.ts';
import type { ServiceEnv } from './serviceEnv.ts';

const json = <T>(schema: T, description: string) => ({ description, content: { 'application/json': { schema } } });
const security = [{ bearer: [] }];

/** An admin key manages the keys of its own tenant, and of no other. */
export function keyRoutes(app: OpenAPIHono<ServiceEnv>, deps: ServiceDeps): void {
  app.openapi(
    createRoute({
      method: 'post', path: '/v1/keys', summary: 'Create an API key in your tenant (admin); the key is shown once', security,
      request: { body: { required: true, content: { 'application/json': { schema: CreateKeyBody } } } },
      responses: { 201: json(CreatedKeySchema, 'The new key'), ...problemResponses(...COMMON_PROBLEMS, 422) },
    }),
    async (c) => {
      const principal = c.get('principal');
      requireScope(principal, 'admin');
      const request = c.req.valid('json');
      const { key, record } = await createApiKey(deps.service, {
        tenantId: principal.tenantId,
        scopes: request.scopes,
        ...(request.name ? { name: request.name } : {}),
        ...(request.expiresAt ? { expiresAt: new Date(request.expiresAt) } : {}),
      });
      deps.logger.log('info', 'key.created', { requestId: c.get('requestId'), tenant: principal.tenantId, keyId: principal.key.keyId, created: record.keyId, scopes: record.scopes });
      return c.json({ ...keyInfo(record), key }, 201);
    },
  );

  app.openapi(
    createRoute({ method: 'get', path: '/v1/keys', summary: "Your tenant's API keys (admin), without secrets", security, responses: { 200: json(KeySchema.array(), 'Keys, newest first'), ...problemResponses(...COMMON_PROBLEMS) } }),
    async (c) => {
      const principal = c.get('principal');
      requireScope(principal, 'admin');
      return c.json((await deps.service.listKeys(principal.tenantId)).map(keyInfo), 200);
    },
  );

  app.openapi(
    createRoute({ method: 'delete', path: '/v1/keys/{keyId}', summary: 'Revoke an API key of your tenant (admin)', security, request: { params: KeyIdParam }, responses: { 204: { description: 'Revoked' }, ...problemResponses(...COMMON_PROBLEMS, 404) } }),
    async (c) => {
      const principal = c.get('principal');
      requireScope(principal, 'admin');
      const { keyId } = c.req.valid('param');
      if (!(await deps.service.revokeKey(principal.tenantId, keyId, new Date().toISOString()))) {
        throw new ProblemError(404, 'key-not-found', 'Key not found', `No API key "${keyId}" in your tenant: list them with GET /v1/keys.`);
      }
      deps.logger.log('info', 'key.revoked', { requestId: c.get('requestId'), tenant: principal.tenantId, keyId: principal.key.keyId, revoked: keyId });
      return c.body(null, 204);
    },
  );
}
