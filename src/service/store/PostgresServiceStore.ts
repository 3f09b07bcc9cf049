import type { Pool } from 'pg';
import { StorageError, UserError } from '../../errors.ts';
import { importPeer } from '../../importPeer.ts';
import type { SealedValue } from '../secrets/envelope.ts';
import { alreadyOwned, keyFromRow, listingQuery, ownershipFromRow, pageOf, secretFromRow, secretInfoFromRow, type KeyRow, type OwnedRow, type OwnedRunRow, type SecretRow } from './serviceRows.ts';
import type { ApiKeyRecord, RunOwnership, SecretInfo, ServiceStore, StoredSecret, TenantRunFilter, TenantRunPage } from './ServiceStore.ts';
import { withAdvisoryLock } from '../../log/stores/postgres/advisoryLock.ts';

const statements = (s: string) => [
  `CREATE SCHEMA IF NOT EXISTS ${s}`,
  `CREATE TABLE IF NOT EXISTS ${s}.service_tenants (tenant_id text PRIMARY KEY, created_at text NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS ${s}.service_keys (
    key_id text PRIMARY KEY, tenant_id text NOT NULL REFERENCES ${s}.service_tenants (tenant_id), name text NOT NULL,
    hash text NOT NULL, scopes text NOT NULL, created_at text NOT NULL, expires_at text, revoked_at text)`,
  `CREATE INDEX IF NOT EXISTS service_keys_by_tenant ON ${s}.service_keys (tenant_id, created_at DESC)`,
  `CREATE TABLE IF NOT EXISTS ${s}.service_runs (
    run_id text PRIMARY KEY, tenant_id text NOT NULL REFERENCES ${s}.service_tenants (tenant_id),
    created_by_key text NOT NULL, created_at text NOT NULL, thread text)`,
  `CREATE INDEX IF NOT EXISTS service_runs_by_tenant ON ${s}.service_runs (tenant_id, created_at DESC, run_id DESC)`,
  `CREATE INDEX IF NOT EXISTS service_runs_by_thread ON ${s}.service_runs (tenant_id, thread, created_at DESC) WHERE thread IS NOT NULL`,
  `CREATE TABLE IF NOT EXISTS ${s}.service_secrets (
    tenant_id text NOT NULL REFERENCES ${s}.service_tenants (tenant_id), name text NOT NULL, version integer NOT NULL,
    key_id text NOT NULL, wrapped_key text NOT NULL, ciphertext text NOT NULL, created_at text NOT NULL, updated_at text NOT NULL,
    PRIMARY KEY (tenant_id, name))`,
];

const UNIQUE_VIOLATION = '23505';

/**
 * The service's tables in the PostgreSQL schema of the run store. Needs `pg` (an optional peer),
 * loaded on first use. The run store's tables must exist before `listRuns` (open the run store first).
 * @example
 * const service = new PostgresServiceStore({ connectionString: 'postgres://localhost/app', schema: 'statecraft' });
 */
export class PostgresServiceStore implements ServiceStore {
  readonly #s: string;
  readonly #connectionString: string;
  #pool: Promise<Pool> | undefined;
  #ready: Promise<void> | undefined;

  constructor(options: { connectionString: string; schema?: string }) {
    const schema = options.schema ?? 'statecraft';
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(schema)) {
      throw new UserError(`PostgreSQL schema name "${schema}" is not allowed: use letters, digits and underscores, starting with a letter or underscore.`);
    }
    this.#s = `"${schema}"`;
    this.#connectionString = options.connectionString;
  }

  #connections(): Promise<Pool> {
    this.#pool ??= importPeer(() => import('pg'), 'pg', 'PostgreSQL stores need').then(({ default: pg }) => {
      const pool = new pg.Pool({ connectionString: this.#connectionString, max: 4 });
      pool.on('error', () => {});
      return pool;
    });
    return this.#pool;
  }

  async #query<R extends object>(sql: string, params: unknown[] = []): Promise<R[]> {
    const pool = await this.#connections();
    this.#ready ??= withAdvisoryLock(pool, `statecraft-service:${this.#s}`, async (query) => {
      for (const statement of statements(this.#s)) await query(statement);
    }).catch((error: unknown) => {
      this.#ready = undefined;
      throw error;
    });
    try {
      await this.#ready;
      return (await pool.query(sql, params)).rows as R[];
    } catch (error) {
      if ((error as { code?: string }).code === UNIQUE_VIOLATION) throw error;
      throw new StorageError(`PostgreSQL failed a query of the service tables: ${(error as Error).message}. Check that the server runs and the connection string.`, { cause: error });
    }
  }

  async addKey(key: ApiKeyRecord): Promise<void> {
    await this.#query(
      `WITH tenant AS (INSERT INTO ${this.#s}.service_tenants (tenant_id, created_at) VALUES ($2, $6) ON CONFLICT DO NOTHING)
       INSERT INTO ${this.#s}.service_keys (key_id, tenant_id, name, hash, scopes, created_at, expires_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [key.keyId, key.tenantId, key.name, key.hash, JSON.stringify(key.scopes), key.createdAt, key.expiresAt ?? null, key.revokedAt ?? null],
    );
  }

  async key(keyId: string): Promise<ApiKeyRecord | undefined> {
    const [row] = await this.#query<KeyRow>(`SELECT * FROM ${this.#s}.service_keys WHERE key_id = $1`, [keyId]);
    return row ? keyFromRow(row) : undefined;
  }

  async listKeys(tenantId: string): Promise<ApiKeyRecord[]> {
    return (await this.#query<KeyRow>(`SELECT * FROM ${this.#s}.service_keys WHERE tenant_id = $1 ORDER BY created_at DESC, key_id`, [tenantId])).map(keyFromRow);
  }

  async revokeKey(tenantId: string, keyId: string, at: string): Promise<boolean> {
    const rows = await this.#query(`UPDATE ${this.#s}.service_keys SET revoked_at = coalesce(revoked_at, $1) WHERE tenant_id = $2 AND key_id = $3 RETURNING key_id`, [at, tenantId, keyId]);
    return rows.length > 0;
  }

  async claimRun(ownership: RunOwnership): Promise<void> {
    try {
      await this.#query(
        `WITH tenant AS (INSERT INTO ${this.#s}.service_tenants (tenant_id, created_at) VALUES ($2, $4) ON CONFLICT DO NOTHING)
         INSERT INTO ${this.#s}.service_runs (run_id, tenant_id, created_by_key, created_at, thread) VALUES ($1, $2, $3, $4, $5)`,
        [ownership.runId, ownership.tenantId, ownership.createdByKey, ownership.createdAt, ownership.thread ?? null],
      );
    } catch (error) {
      if ((error as { code?: string }).code === UNIQUE_VIOLATION) throw alreadyOwned(ownership.runId);
      throw error;
    }
  }

  async runOf(tenantId: string, runId: string): Promise<RunOwnership | undefined> {
    const [row] = await this.#query<OwnedRunRow>(
      `SELECT * FROM ${this.#s}.service_runs WHERE run_id = $1 AND tenant_id = $2`,
      [runId, tenantId],
    );
    return row ? ownershipFromRow(row) : undefined;
  }

  async listRuns(tenantId: string, filter: TenantRunFilter): Promise<TenantRunPage> {
    const { sql, params } = listingQuery({ runs: `${this.#s}.runs`, owned: `${this.#s}.service_runs` }, tenantId, filter, (index) => `$${index}`);
    return pageOf(await this.#query<OwnedRow>(sql, params), filter.limit);
  }

  async putSecret(tenantId: string, name: string, sealed: SealedValue, at: string): Promise<SecretInfo> {
    const [row] = await this.#query<SecretRow>(
      `WITH tenant AS (INSERT INTO ${this.#s}.service_tenants (tenant_id, created_at) VALUES ($1, $6) ON CONFLICT DO NOTHING)
       INSERT INTO ${this.#s}.service_secrets AS s (tenant_id, name, version, key_id, wrapped_key, ciphertext, created_at, updated_at) VALUES ($1, $2, 1, $3, $4, $5, $6, $6)
       ON CONFLICT (tenant_id, name) DO UPDATE SET version = s.version + 1, key_id = excluded.key_id, wrapped_key = excluded.wrapped_key, ciphertext = excluded.ciphertext, updated_at = excluded.updated_at
       RETURNING *`,
      [tenantId, name, sealed.keyId, sealed.wrappedKey, sealed.ciphertext, at],
    );
    return secretInfoFromRow(row as SecretRow);
  }

  async secret(tenantId: string, name: string): Promise<StoredSecret | undefined> {
    const [row] = await this.#query<SecretRow>(`SELECT * FROM ${this.#s}.service_secrets WHERE tenant_id = $1 AND name = $2`, [tenantId, name]);
    return row ? secretFromRow(row) : undefined;
  }

  async listSecrets(tenantId: string): Promise<SecretInfo[]> {
    return (await this.#query<SecretRow>(`SELECT * FROM ${this.#s}.service_secrets WHERE tenant_id = $1 ORDER BY name`, [tenantId])).map(secretInfoFromRow);
  }

  async deleteSecret(tenantId: string, name: string): Promise<boolean> {
    return (await this.#query(`DELETE FROM ${this.#s}.service_secrets WHERE tenant_id = $1 AND name = $2 RETURNING name`, [tenantId, name])).length > 0;
  }

  async secretsNotWrappedBy(keyId: string): Promise<StoredSecret[]> {
    return (await this.#query<SecretRow>(`SELECT * FROM ${this.#s}.service_secrets WHERE key_id <> $1 ORDER BY tenant_id, name`, [keyId])).map(secretFromRow);
  }

  async rewrapSecret(secret: StoredSecret, sealed: SealedValue): Promise<boolean> {
    const rows = await this.#query(
      `UPDATE ${this.#s}.service_secrets SET key_id = $1, wrapped_key = $2 WHERE tenant_id = $3 AND name = $4 AND version = $5 AND key_id = $6 AND wrapped_key = $7 RETURNING name`,
      [sealed.keyId, sealed.wrappedKey, secret.tenantId, secret.name, secret.version, secret.keyId, secret.wrappedKey],
    );
    return rows.length > 0;
  }

  async ping(): Promise<void> {
    await this.#query('SELECT 1');
  }

  async close(): Promise<void> {
    const pool = this.#pool;
    this.#pool = undefined;
    if (pool) await (await pool).end();
  }
}
