import type Database from 'better-sqlite3';
import { StorageError } from '../../errors.ts';
import { openSqlite } from '../../log/stores/sqlite/sqliteWrite.ts';
import type { SealedValue } from '../secrets/envelope.ts';
import { alreadyOwned, keyFromRow, listingQuery, ownershipFromRow, pageOf, secretFromRow, secretInfoFromRow, type KeyRow, type OwnedRow, type OwnedRunRow, type SecretRow } from './serviceRows.ts';
import type { ApiKeyRecord, RunOwnership, SecretInfo, ServiceStore, StoredSecret, TenantRunFilter, TenantRunPage } from './ServiceStore.ts';

/** The service's tables; safe to run again on an existing file. */
const SCHEMA = `
CREATE TABLE IF NOT EXISTS service_tenants (tenant_id TEXT PRIMARY KEY, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS service_keys (
  key_id TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL REFERENCES service_tenants (tenant_id),
  name TEXT NOT NULL,
  hash TEXT NOT NULL,
  scopes TEXT NOT NULL,
  created_at TEXT NOT NULL,
  expires_at TEXT,
  revoked_at TEXT
);
CREATE INDEX IF NOT EXISTS service_keys_by_tenant ON service_keys (tenant_id, created_at DESC);
CREATE TABLE IF NOT EXISTS service_runs (
  run_id TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL REFERENCES service_tenants (tenant_id),
  created_by_key TEXT NOT NULL,
  created_at TEXT NOT NULL,
  thread TEXT
);
CREATE INDEX IF NOT EXISTS service_runs_by_tenant ON service_runs (tenant_id, created_at DESC, run_id DESC);
CREATE INDEX IF NOT EXISTS service_runs_by_thread ON service_runs (tenant_id, thread, created_at DESC) WHERE thread IS NOT NULL;
CREATE TABLE IF NOT EXISTS service_secrets (
  tenant_id TEXT NOT NULL REFERENCES service_tenants (tenant_id),
  name TEXT NOT NULL,
  version INTEGER NOT NULL,
  key_id TEXT NOT NULL,
  wrapped_key TEXT NOT NULL,
  ciphertext TEXT NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  PRIMARY KEY (tenant_id, name)
);
`;

/**
 * The service's tables in the SQLite file of the run store (same file, its own connection), so that a
 * tenant's listing is one query joined to the runs table.
 * @example
 * const service = new SqliteServiceStore('.statecraft/runs.db');
 */
export class SqliteServiceStore implements ServiceStore {
  readonly #db: Database.Database;
  /** Statements by their SQL, prepared once: preparing costs more than most of these queries. */
  readonly #statements = new Map<string, Database.Statement>();
  #claim: ((ownership: RunOwnership) => void) | undefined;

  #prepare<P extends unknown[] = unknown[], R = unknown>(sql: string): Database.Statement<P, R> {
    let statement = this.#statements.get(sql);
    if (!statement) this.#statements.set(sql, (statement = this.#db.prepare(sql)));
    return statement as unknown as Database.Statement<P, R>;
  }

  constructor(path: string) {
    try {
      this.#db = openSqlite(path);
      this.#db.exec(SCHEMA);
    } catch (error) {
      throw new StorageError(`Could not open the service tables in SQLite file ${path}: ${(error as Error).message}. Check that the path is a writable run store.`, { cause: error });
    }
  }

  async addKey(key: ApiKeyRecord): Promise<void> {
    this.#db.transaction(() => {
      this.#prepare('INSERT OR IGNORE INTO service_tenants (tenant_id, created_at) VALUES (?, ?)').run(key.tenantId, key.createdAt);
      this.#prepare('INSERT INTO service_keys (key_id, tenant_id, name, hash, scopes, created_at, expires_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
        .run(key.keyId, key.tenantId, key.name, key.hash, JSON.stringify(key.scopes), key.createdAt, key.expiresAt ?? null, key.revokedAt ?? null);
    })();
  }

  async key(keyId: string): Promise<ApiKeyRecord | undefined> {
    const row = this.#prepare<[string], KeyRow>('SELECT * FROM service_keys WHERE key_id = ?').get(keyId);
    return row ? keyFromRow(row) : undefined;
  }

  async listKeys(tenantId: string): Promise<ApiKeyRecord[]> {
    return this.#prepare<[string], KeyRow>('SELECT * FROM service_keys WHERE tenant_id = ? ORDER BY created_at DESC, key_id').all(tenantId).map(keyFromRow);
  }

  async revokeKey(tenantId: string, keyId: string, at: string): Promise<boolean> {
    const found = this.#prepare('UPDATE service_keys SET revoked_at = coalesce(revoked_at, ?) WHERE tenant_id = ? AND key_id = ?').run(at, tenantId, keyId);
    return found.changes > 0;
  }

  async claimRun(ownership: RunOwnership): Promise<void> {
    try {
      (this.#claim ??= this.#db.transaction((owned: RunOwnership) => {
        this.#prepare('INSERT OR IGNORE INTO service_tenants (tenant_id, created_at) VALUES (?, ?)').run(owned.tenantId, owned.createdAt);
        this.#prepare('INSERT INTO service_runs (run_id, tenant_id, created_by_key, created_at, thread) VALUES (?, ?, ?, ?, ?)')
          .run(owned.runId, owned.tenantId, owned.createdByKey, owned.createdAt, owned.thread ?? null);
      }))(ownership);
    } catch (error) {
      if ((error as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') throw alreadyOwned(ownership.runId);
      throw error;
    }
  }

  async runOf(tenantId: string, runId: string): Promise<RunOwnership | undefined> {
    const row = this.#prepare<[string, string], OwnedRunRow>('SELECT * FROM service_runs WHERE run_id = ? AND tenant_id = ?').get(runId, tenantId);
    return row ? ownershipFromRow(row) : undefined;
  }

  async listRuns(tenantId: string, filter: TenantRunFilter): Promise<TenantRunPage> {
    const { sql, params } = listingQuery({ runs: 'runs', owned: 'service_runs' }, tenantId, filter, () => '?');
    return pageOf(this.#prepare<unknown[], OwnedRow>(sql).all(...params), filter.limit);
  }

  async putSecret(tenantId: string, name: string, sealed: SealedValue, at: string): Promise<SecretInfo> {
    return this.#db.transaction(() => {
      this.#prepare('INSERT OR IGNORE INTO service_tenants (tenant_id, created_at) VALUES (?, ?)').run(tenantId, at);
      const row = this.#prepare<unknown[], SecretRow>(
          `INSERT INTO service_secrets (tenant_id, name, version, key_id, wrapped_key, ciphertext, created_at, updated_at) VALUES (?, ?, 1, ?, ?, ?, ?, ?)
           ON CONFLICT (tenant_id, name) DO UPDATE SET version = version + 1, key_id = excluded.key_id, wrapped_key = excluded.wrapped_key, ciphertext = excluded.ciphertext, updated_at = excluded.updated_at
           RETURNING *`,
        )
        .get(tenantId, name, sealed.keyId, sealed.wrappedKey, sealed.ciphertext, at, at) as SecretRow;
      return secretInfoFromRow(row);
    })();
  }

  async secret(tenantId: string, name: string): Promise<StoredSecret | undefined> {
    const row = this.#prepare<[string, string], SecretRow>('SELECT * FROM service_secrets WHERE tenant_id = ? AND name = ?').get(tenantId, name);
    return row ? secretFromRow(row) : undefined;
  }

  async listSecrets(tenantId: string): Promise<SecretInfo[]> {
    return this.#prepare<[string], SecretRow>('SELECT * FROM service_secrets WHERE tenant_id = ? ORDER BY name').all(tenantId).map(secretInfoFromRow);
  }

  async deleteSecret(tenantId: string, name: string): Promise<boolean> {
    return this.#prepare('DELETE FROM service_secrets WHERE tenant_id = ? AND name = ?').run(tenantId, name).changes > 0;
  }

  async secretsNotWrappedBy(keyId: string): Promise<StoredSecret[]> {
    return this.#prepare<[string], SecretRow>('SELECT * FROM service_secrets WHERE key_id <> ? ORDER BY tenant_id, name').all(keyId).map(secretFromRow);
  }

  async rewrapSecret(secret: StoredSecret, sealed: SealedValue): Promise<boolean> {
    const changed = this.#prepare('UPDATE service_secrets SET key_id = ?, wrapped_key = ? WHERE tenant_id = ? AND name = ? AND version = ? AND key_id = ? AND wrapped_key = ?')
      .run(sealed.keyId, sealed.wrappedKey, secret.tenantId, secret.name, secret.version, secret.keyId, secret.wrappedKey);
    return changed.changes > 0;
  }

  async ping(): Promise<void> {
    this.#prepare('SELECT 1').get();
  }

  async close(): Promise<void> {
    if (this.#db.open) this.#db.close();
  }
}
