import type { HttpBindings } from '@hono/node-server';
import type { Principal } from './authGuard.ts';

/** What the service's middleware sets on each request. */
export type ServiceEnv = {
  Bindings: HttpBindings;
  Variables: { requestId: string; client: string; principal: Principal };
};
