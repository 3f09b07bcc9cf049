import type { RunStatus, RunSummary } from '../../log/format/record.ts';
import type { SealedValue } from '../secrets/envelope.ts';

/**
 * What an API key may do: start runs (and fork and cancel them), read them, decide approvals, set,
 * list and delete the tenant's secrets (never read their values), or anything in its tenant.
 */
export const SCOPES = ['runs:create', 'runs:read', 'approvals:decide', 'secrets:write', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

/** A stored API key: the hash of its secret only, never the secret. */
export interface ApiKeyRecord {
  keyId: string;
  tenantId: string;
  name: string;
  /** SHA-256 of the key's secret part, hex. */
  hash: string;
  scopes: Scope[];
  createdAt: string;
  expiresAt?: string;
  revokedAt?: string;
}

/** Which tenant a run belongs to, and the key that started it (separation of duties reads it). */
export interface RunOwnership {
  runId: string;
  tenantId: string;
  createdByKey: string;
  createdAt: string;
  /** The conversation the run belongs to, when its creator named one. */
  thread?: string;
}

/** Where a page of a tenant's runs starts: after this run, in the listing's order (newest first). */
export interface RunCursor {
  createdAt: string;
  runId: string;
}

export interface TenantRunFilter {
  status?: RunStatus[];
  agentId?: string;
  parentRunId?: string;
  thread?: string;
  limit: number;
  after?: RunCursor;
}

export interface TenantRunPage {
  runs: RunSummary[];
  /** Present when more runs follow. */
  next?: RunCursor;
}

/** A tenant's secret as listings show it: never its value. */
export interface SecretInfo {
  name: string;
  /** 1 when first set; one more each time a value replaces it. */
  version: number;
  createdAt: string;
  updatedAt: string;
  /** The master key that wraps its data key. */
  keyId: string;
}

/** A stored secret: its value sealed (see `sealValue`), never in the clear. */
export interface StoredSecret extends SecretInfo, SealedValue {
  tenantId: string;
}

/**
 * The service's own tables, kept beside the run store's in the same database: tenants, API keys and
 * which tenant owns each run. Every read of a run is scoped by tenant here; a run of another tenant
 * and a run that does not exist look the same.
 */
export interface ServiceStore {
  /** Stores a new key, creating its tenant when it is new. */
  addKey(key: ApiKeyRecord): Promise<void>;
  key(keyId: string): Promise<ApiKeyRecord | undefined>;
  /** The tenant's keys, newest first. */
  listKeys(tenantId: string): Promise<ApiKeyRecord[]>;
  /** Revokes a key of the tenant; false when the tenant has no such key. A key revoked before keeps its first time. */
  revokeKey(tenantId: string, keyId: string, at: string): Promise<boolean>;
  /** Records that a run belongs to a tenant; refused (UserError) when the id is already owned. */
  claimRun(ownership: RunOwnership): Promise<void>;
  /** The run's ownership when it belongs to this tenant; undefined otherwise, whoever owns it. */
  runOf(tenantId: string, runId: string): Promise<RunOwnership | undefined>;
  /** A page of the tenant's runs that the run store holds, newest first. */
  listRuns(tenantId: string, filter: TenantRunFilter): Promise<TenantRunPage>;
  /** Stores a sealed value as the tenant's secret `name`: version 1, or the next version of one already there. */
  putSecret(tenantId: string, name: string, sealed: SealedValue, at: string): Promise<SecretInfo>;
  /** The tenant's secret, sealed; undefined when the tenant has none of that name. */
  secret(tenantId: string, name: string): Promise<StoredSecret | undefined>;
  /** The tenant's secrets by name, without their values. */
  listSecrets(tenantId: string): Promise<SecretInfo[]>;
  /** Deletes the tenant's secret; false when the tenant has none of that name. */
  deleteSecret(tenantId: string, name: string): Promise<boolean>;
  /** The secrets of every tenant whose data key another master key than `keyId` wraps (for a rotation). */
  secretsNotWrappedBy(keyId: string): Promise<StoredSecret[]>;
  /**
   * Replaces the wrapping of a secret's data key, only if the row is still the one read (same version
   * and key): a value set meanwhile is kept. False when it changed or was deleted.
   */
  rewrapSecret(secret: StoredSecret, sealed: SealedValue): Promise<boolean>;
  /** Resolves when the database answers. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** A key as listings show it: everything but the hash. */
export type ApiKeyInfo = Omit<ApiKeyRecord, 'hash'>;

export const keyInfo = ({ hash: _hash, ...info }: ApiKeyRecord): ApiKeyInfo => info;
