import { UserError } from '../../errors.ts';
import { listedSummary, type ListedRow } from '../../log/stores/runStore.ts';
import { SCOPES, type ApiKeyRecord, type SecretInfo, type StoredSecret, type RunCursor, type RunOwnership, type Scope, type TenantRunFilter, type TenantRunPage } from './ServiceStore.ts';

/** A row of the keys table, as both backends read it. */
export interface KeyRow {
  key_id: string;
  tenant_id: string;
  name: string;
  hash: string;
  scopes: string;
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
}

export function keyFromRow(row: KeyRow): ApiKeyRecord {
  const scopes = (JSON.parse(row.scopes) as string[]).filter((scope): scope is Scope => (SCOPES as readonly string[]).includes(scope));
  return {
    keyId: row.key_id,
    tenantId: row.tenant_id,
    name: row.name,
    hash: row.hash,
    scopes,
    createdAt: row.created_at,
    ...(row.expires_at ? { expiresAt: row.expires_at } : {}),
    ...(row.revoked_at ? { revokedAt: row.revoked_at } : {}),
  };
}

/** A listed run with the time its tenant claimed it (the listing's order and cursor). */
export type OwnedRow = ListedRow & { owned_at: string };

/**
 * The WHERE clause and parameters of a tenant's run listing, with placeholders made by `p` (`?` for
 * SQLite, `$n` for PostgreSQL). The tenant comes first and always: no listing is unscoped.
 */
export function listingQuery(table: { runs: string; owned: string }, tenantId: string, filter: TenantRunFilter, p: (index: number) => string): { sql: string; params: unknown[] } {
  const params: unknown[] = [tenantId];
  const where = [`t.tenant_id = ${p(1)}`];
  const add = (clause: (at: string) => string, value: unknown) => {
    params.push(value);
    where.push(clause(p(params.length)));
  };
  if (filter.status?.length) {
    const marks = filter.status.map((status) => (params.push(status), p(params.length)));
    where.push(`r.status IN (${marks.join(', ')})`);
  }
  if (filter.agentId !== undefined) add((at) => `r.agent_id = ${at}`, filter.agentId);
  if (filter.parentRunId !== undefined) add((at) => `r.parent_run_id = ${at}`, filter.parentRunId);
  if (filter.thread !== undefined) add((at) => `t.thread = ${at}`, filter.thread);
  if (filter.after) {
    // Each placeholder is used once: SQLite's `?` are numbered by position.
    params.push(filter.after.createdAt, filter.after.createdAt, filter.after.runId);
    const [before, same, id] = [p(params.length - 2), p(params.length - 1), p(params.length)];
    where.push(`(t.created_at < ${before} OR (t.created_at = ${same} AND t.run_id < ${id}))`);
  }
  params.push(filter.limit + 1);
  const sql =
    `SELECT r.run_id, r.agent_id, r.status, r.created_at, r.updated_at, r.summary, t.created_at AS owned_at ` +
    `FROM ${table.owned} t JOIN ${table.runs} r ON r.run_id = t.run_id WHERE ${where.join(' AND ')} ` +
    `ORDER BY t.created_at DESC, t.run_id DESC LIMIT ${p(params.length)}`;
  return { sql, params };
}

/** A page from `limit + 1` rows: the extra row says that another page follows. */
export function pageOf(rows: OwnedRow[], limit: number): TenantRunPage {
  const shown = rows.slice(0, limit);
  const last = shown.at(-1);
  const next: RunCursor | undefined = rows.length > limit && last ? { createdAt: last.owned_at, runId: last.run_id } : undefined;
  return { runs: shown.map(listedSummary), ...(next ? { next } : {}) };
}

/** A row of the run ownership table, as both backends read it. */
export interface OwnedRunRow {
  run_id: string;
  tenant_id: string;
  created_by_key: string;
  created_at: string;
  thread: string | null;
}

export const ownershipFromRow = (row: OwnedRunRow): RunOwnership => ({
  runId: row.run_id,
  tenantId: row.tenant_id,
  createdByKey: row.created_by_key,
  createdAt: row.created_at,
  ...(row.thread === null ? {} : { thread: row.thread }),
});

export function alreadyOwned(runId: string): UserError {
  return new UserError(`Run id "${runId}" is already taken: start the run with another id, or leave the id out and one is made.`);
}

/** A row of the secrets table, as both backends read it. */
export interface SecretRow {
  tenant_id: string;
  name: string;
  version: number | string;
  key_id: string;
  wrapped_key: string;
  ciphertext: string;
  created_at: string;
  updated_at: string;
}

export const secretInfoFromRow = (row: SecretRow): SecretInfo => ({ name: row.name, version: Number(row.version), createdAt: row.created_at, updatedAt: row.updated_at, keyId: row.key_id });

export const secretFromRow = (row: SecretRow): StoredSecret => ({ ...secretInfoFromRow(row), tenantId: row.tenant_id, wrappedKey: row.wrapped_key, ciphertext: row.ciphertext });
