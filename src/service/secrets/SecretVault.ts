import type { CredentialsProvider } from '../../credentials/credentialsProvider.ts';
import { SECRET_NAME } from '../../credentials/Secrets.ts';
import { MIN_SECRET_LENGTH } from '../../credentials/secretEncodings.ts';
import { UserError } from '../../errors.ts';
import type { SecretInfo, ServiceStore, StoredSecret } from '../store/ServiceStore.ts';
import { openValue, rewrapValue, sealValue, type MasterKeys } from './envelope.ts';
import { noMasterKey } from './masterKeys.ts';

/** The largest secret value stored, in UTF-8 bytes. */
export const MAX_SECRET_BYTES = 65_536;

/** Refuses a name tools could not declare; the message is safe to show (it holds no value). */
export function checkSecretName(name: string): void {
  if (!SECRET_NAME.test(name)) {
    throw new UserError(`"${name.slice(0, 140)}" is not a secret name: use 1-128 letters, digits, "_", "." or "-" (the names tools declare in secrets: [...]).`);
  }
}

/** Refuses a value that could not be redacted or is too large, describing it by its length only. */
export function checkSecretValue(name: string, value: string): void {
  if (value.length < MIN_SECRET_LENGTH) {
    throw new UserError(`The value of secret "${name}" has ${value.length} characters; it needs at least ${MIN_SECRET_LENGTH}, or it could not be redacted from run logs, model requests and telemetry.`);
  }
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes > MAX_SECRET_BYTES) throw new UserError(`The value of secret "${name}" is ${bytes} bytes; a secret holds at most ${MAX_SECRET_BYTES}. Store a larger credential elsewhere and keep its key here.`);
}

/**
 * The tenants' secrets, encrypted at rest in the service store: set, listed and deleted by tenant,
 * their values read only to hand them to the tools of that tenant's runs.
 * @example
 * const vault = new SecretVault(openServiceStore(url), loadMasterKeys({ env: process.env }));
 * await vault.set('acme', 'github_token', token);
 */
export class SecretVault {
  constructor(
    private readonly service: ServiceStore,
    /** Undefined when the service was started without a master key: anything that needs one is refused. */
    readonly keys: MasterKeys | undefined,
  ) {}

  #keys(action: string): MasterKeys {
    if (!this.keys) throw noMasterKey(action);
    return this.keys;
  }

  /** Sets the tenant's secret (version 1, or the next version); the value is sealed before it reaches the store. */
  async set(tenantId: string, name: string, value: string): Promise<SecretInfo> {
    checkSecretName(name);
    checkSecretValue(name, value);
    const sealed = sealValue(this.#keys(`Setting secret "${name}"`), value, { tenantId, name });
    return this.service.putSecret(tenantId, name, sealed, new Date().toISOString());
  }

  list(tenantId: string): Promise<SecretInfo[]> {
    return this.service.listSecrets(tenantId);
  }

  async delete(tenantId: string, name: string): Promise<boolean> {
    checkSecretName(name);
    return this.service.deleteSecret(tenantId, name);
  }

  /** The value of the tenant's secret, or undefined when the tenant has none of that name. */
  async read(tenantId: string, name: string): Promise<string | undefined> {
    if (!SECRET_NAME.test(name)) return undefined;
    const stored = await this.service.secret(tenantId, name);
    if (!stored) return undefined;
    return openValue(this.#keys(`Reading secret "${name}" of tenant "${tenantId}"`), stored, { tenantId, name });
  }

  /** The credentials provider of one tenant's runs: it reads that tenant's secrets and no other's. */
  credentials(tenantId: string): CredentialsProvider {
    const where = `the service's secrets of tenant "${tenantId}"`;
    return {
      get: (name) => this.read(tenantId, name),
      describe: () => where,
      locate: (name) => `${where} (PUT /v1/secrets/${name})`,
    };
  }
}

/** What a master key rotation did. */
export interface RotationReport {
  /** The key that now wraps every data key. */
  keyId: string;
  rewrapped: number;
  /** Set or deleted while the rotation ran: already under the current key, or gone. */
  changedMeanwhile: number;
  /** Secrets whose data key could not be unwrapped, with the reason (never a value). */
  unreadable: { tenantId: string; name: string; reason: string }[];
}

/**
 * Re-wraps the data key of every secret of every tenant under the current master key. Values are
 * never decrypted: only each data key, in memory, for the time of its re-wrapping. Once no secret is
 * unreadable, the previous keys can be dropped.
 */
export async function rotateMasterKey(service: ServiceStore, keys: MasterKeys): Promise<RotationReport> {
  const report: RotationReport = { keyId: keys.currentId, rewrapped: 0, changedMeanwhile: 0, unreadable: [] };
  const stale: StoredSecret[] = await service.secretsNotWrappedBy(keys.currentId);
  for (const secret of stale) {
    const binding = { tenantId: secret.tenantId, name: secret.name };
    let sealed;
    try {
      sealed = rewrapValue(keys, secret, binding);
    } catch (error) {
      report.unreadable.push({ ...binding, reason: (error as Error).message });
      continue;
    }
    if (await service.rewrapSecret(secret, sealed)) report.rewrapped += 1;
    else report.changedMeanwhile += 1;
  }
  return report;
}
