// The hosted agent service (`statecraft serve`), on its own entry point so that `statecraft` alone
// never loads its HTTP dependencies (hono, @hono/node-server, @hono/zod-openapi: optional peers).
export { createServer, type CreateServerOptions, type StatecraftServer } from './createServer.ts';
export { loadServiceConfig, ServiceConfigSchema, type ServiceConfig, type ServiceConfigInput } from './serviceConfig.ts';
export { createApiKey, verifyApiKey, type NewKey } from './auth/apiKeys.ts';
export { InProcessExecutor, type LoadedAgent } from './execution/InProcessExecutor.ts';
export type { Decision, RunExecutor, StartRequest } from './execution/RunExecutor.ts';
export { openServiceStore } from './store/openServiceStore.ts';
export { SqliteServiceStore } from './store/SqliteServiceStore.ts';
export { PostgresServiceStore } from './store/PostgresServiceStore.ts';
export { SCOPES, type ApiKeyInfo, type ApiKeyRecord, type RunOwnership, type Scope, type ServiceStore } from './store/ServiceStore.ts';
export { MasterKeys, SecretUnreadableError, type SealedValue } from './secrets/envelope.ts';
export { loadMasterKeys } from './secrets/masterKeys.ts';
export { rotateMasterKey, SecretVault, type RotationReport } from './secrets/SecretVault.ts';
export type { SecretInfo } from './store/ServiceStore.ts';
