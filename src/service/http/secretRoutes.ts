import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { MIN_SECRET_LENGTH } from '../../credentials/secretEncodings.ts';
import { SECRET_NAME } from '../../credentials/Secrets.ts';
import { MAX_SECRET_BYTES } from '../secrets/SecretVault.ts';
import { MASTER_KEY_ENV } from '../secrets/masterKeys.ts';
import type { SecretInfo } from '../store/ServiceStore.ts';
import { requireScope } from './authGuard.ts';
import { ProblemError } from './problem.ts';
import { COMMON_PROBLEMS, problemResponses } from './schemas.ts';
import type { ServiceDeps } from './serviceDeps.ts';
import type { ServiceEnv } from './serviceEnv.ts';

const NAME_RULE = 'expected a secret name: 1-128 letters, digits, "_", "." or "-"';

const SecretNameParam = z.object({
  name: z.string().regex(SECRET_NAME, { message: NAME_RULE }).openapi({ param: { name: 'name', in: 'path' }, example: 'github_token' }),
});

// Issues name the rule broken, never the value sent.
const SetSecretBody = z
  .strictObject({
    value: z
      .string({ error: 'expected the value as a string' })
      .min(MIN_SECRET_LENGTH, { message: `expected at least ${MIN_SECRET_LENGTH} characters (shorter values could not be redacted from logs)` })
      .openapi({ description: `The secret's value, ${MIN_SECRET_LENGTH} characters to ${MAX_SECRET_BYTES} bytes (UTF-8); stored encrypted and never returned`, format: 'password' }),
  })
  .openapi('SetSecret');

const SecretSchema = z
  .object({
    name: z.string(),
    version: z.number().int().openapi({ description: '1 when first set, one more each time the value is replaced' }),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi('Secret', { description: 'A secret of your tenant: its name and versions, never its value' });

const json = <T>(schema: T, description: string) => ({ description, content: { 'application/json': { schema } } });
const security = [{ bearer: [] }];
const shown = ({ name, version, createdAt, updatedAt }: SecretInfo) => ({ name, version, createdAt, updatedAt });

/**
 * The tenant's secrets, which the tools of its runs receive through their credentials: set, listed
 * and deleted with the `secrets:write` scope (or admin); no route returns a value.
 */
export function secretRoutes(app: OpenAPIHono<ServiceEnv>, deps: ServiceDeps): void {
  app.openapi(
    createRoute({
      method: 'put', path: '/v1/secrets/{name}', summary: "Set or replace a secret of your tenant (secrets:write); its value is never returned", security,
      request: { params: SecretNameParam, body: { required: true, content: { 'application/json': { schema: SetSecretBody } } } },
      responses: { 200: json(SecretSchema, 'Replaced: a new version'), 201: json(SecretSchema, 'Created: version 1'), ...problemResponses(...COMMON_PROBLEMS, 413, 422, 503) },
    }),
    async (c) => {
      const principal = c.get('principal');
      requireScope(principal, 'secrets:write');
      const { name } = c.req.valid('param');
      const { value } = c.req.valid('json');
      const bytes = Buffer.byteLength(value, 'utf8');
      if (bytes > MAX_SECRET_BYTES) {
        throw new ProblemError(413, 'secret-too-large', 'Secret too large', `The value of secret "${name}" is ${bytes} bytes; a secret holds at most ${MAX_SECRET_BYTES} (UTF-8). Store a larger credential elsewhere and keep its key here.`);
      }
      if (!deps.vault.keys) {
        throw new ProblemError(503, 'no-master-key', 'Secrets unavailable',
          `This service was started without a master key, so it cannot store secret "${name}": its operator must set ${MASTER_KEY_ENV} (or --master-key-file) and restart it.`);
      }
      const info = await deps.vault.set(principal.tenantId, name, value);
      deps.logger.log('info', 'secret.set', { requestId: c.get('requestId'), tenant: principal.tenantId, keyId: principal.key.keyId, name, version: info.version });
      return c.json(shown(info), info.version === 1 ? 201 : 200);
    },
  );

  app.openapi(
    createRoute({ method: 'get', path: '/v1/secrets', summary: "Your tenant's secrets (secrets:write): names, versions and times, never values", security, responses: { 200: json(SecretSchema.array(), 'Secrets by name'), ...problemResponses(...COMMON_PROBLEMS) } }),
    async (c) => {
      const principal = c.get('principal');
      requireScope(principal, 'secrets:write');
      return c.json((await deps.vault.list(principal.tenantId)).map(shown), 200);
    },
  );

  app.openapi(
    createRoute({ method: 'delete', path: '/v1/secrets/{name}', summary: 'Delete a secret of your tenant (secrets:write)', security, request: { params: SecretNameParam }, responses: { 204: { description: 'Deleted' }, ...problemResponses(...COMMON_PROBLEMS, 404) } }),
    async (c) => {
      const principal = c.get('principal');
      requireScope(principal, 'secrets:write');
      const { name } = c.req.valid('param');
      if (!(await deps.vault.delete(principal.tenantId, name))) {
        throw new ProblemError(404, 'secret-not-found', 'Secret not found', `Your tenant has no secret "${name}": list them with GET /v1/secrets.`);
      }
      deps.logger.log('info', 'secret.deleted', { requestId: c.get('requestId'), tenant: principal.tenantId, keyId: principal.key.keyId, name });
      return c.body(null, 204);
    },
  );
}
