import { UserError } from '../errors.ts';
import { createApiKey, parseExpiry } from '../service/auth/apiKeys.ts';
import { openServiceStore } from '../service/store/openServiceStore.ts';
import { keyInfo, type ApiKeyInfo } from '../service/store/ServiceStore.ts';
import type { CommandValues } from './args.ts';

const line = (key: ApiKeyInfo) =>
  `${key.keyId}  ${key.scopes.join(',')}  ${key.revokedAt ? `revoked ${key.revokedAt}` : key.expiresAt ? `expires ${key.expiresAt}` : 'no expiry'}${key.name ? `  ${key.name}` : ''}`;

export async function keys(values: CommandValues, [action, keyId, ...extra]: string[]): Promise<number> {
  const tenant = values.tenant as string | undefined;
  if (!action || !['create', 'list', 'revoke'].includes(action)) {
    throw new UserError(`Expected create, list or revoke after "statecraft keys"${action ? `, found "${action}"` : ''}. See: npx statecraft keys --help`);
  }
  if (!tenant) throw new UserError(`--tenant is required: the tenant whose keys to ${action}. See: npx statecraft keys --help`);
  if (extra.length || (action !== 'revoke' && keyId !== undefined)) throw new UserError(`Unexpected argument "${[keyId, ...extra].filter(Boolean).join(' ')}" for "statecraft keys ${action}".`);
  const store = openServiceStore(values.store as string | undefined);
  try {
    if (action === 'create') {
      if (!values.scopes) throw new UserError('--scopes is required: comma-separated, from runs:create, runs:read, approvals:decide, secrets:write, admin.');
      const scopes = (values.scopes as string).split(',').map((scope) => scope.trim()).filter(Boolean);
      const expiresAt = values.expires === undefined ? undefined : parseExpiry(values.expires as string);
      const { key, record } = await createApiKey(store, { tenantId: tenant, scopes, ...(values.name ? { name: values.name as string } : {}), ...(expiresAt ? { expiresAt } : {}) });
      if (values.json) process.stdout.write(`${JSON.stringify({ ...keyInfo(record), key })}\n`);
      else {
        process.stdout.write(`${key}\n`);
        process.stderr.write(`Created key ${record.keyId} for tenant ${tenant} (${record.scopes.join(', ')}). It is shown this once: keep it now.\n`);
      }
    } else if (action === 'list') {
      const listed = (await store.listKeys(tenant)).map(keyInfo);
      process.stdout.write(values.json ? `${JSON.stringify(listed)}\n` : listed.length ? `${listed.map(line).join('\n')}\n` : `Tenant ${tenant} has no keys.\n`);
    } else {
      if (!keyId) throw new UserError('Missing the key id. Usage: statecraft keys revoke KEY_ID --tenant TENANT (list ids with statecraft keys list).');
      if (!(await store.revokeKey(tenant, keyId, new Date().toISOString()))) {
        throw new UserError(`Tenant ${tenant} has no key "${keyId}": list its keys with \`npx statecraft keys list --tenant ${tenant}\`.`);
      }
      process.stdout.write(`Revoked key ${keyId} of tenant ${tenant}.\n`);
    }
    return 0;
  } finally {
    await store.close();
  }
}
