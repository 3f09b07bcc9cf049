import type { ConnectionOptions } from 'node:tls';

/**
 * Settings handed to the `pg` pool as they are (the connection string is an option of its own). Declared
 * here rather than taken from `@types/pg`, so that the store's types resolve in a project without pg.
 */
export interface PostgresPoolSettings {
  max?: number;
  min?: number;
  idleTimeoutMillis?: number;
  connectionTimeoutMillis?: number;
  maxUses?: number;
  maxLifetimeSeconds?: number;
  allowExitOnIdle?: boolean;
  statement_timeout?: number;
  query_timeout?: number;
  application_name?: string;
  ssl?: boolean | ConnectionOptions;
  /** Any other setting of pg's `PoolConfig`. */
  [setting: string]: unknown;
}
