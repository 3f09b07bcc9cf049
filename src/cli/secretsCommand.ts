import { UserError } from '../errors.ts';
import { loadMasterKeys, noMasterKey } from '../service/secrets/masterKeys.ts';
import { checkSecretName, rotateMasterKey, SecretVault } from '../service/secrets/SecretVault.ts';
import { openServiceStore } from '../service/store/openServiceStore.ts';
import type { SecretInfo } from '../service/store/ServiceStore.ts';
import type { CommandValues } from './args.ts';

const ACTIONS = ['set', 'list', 'delete', 'rotate-master-key'];
const SEE = 'See: npx statecraft secrets --help';

const line = (secret: SecretInfo) => `${secret.name}  v${secret.version}  updated ${secret.updatedAt}  master key ${secret.keyId}`;

/** The value piped on stdin, one trailing newline dropped; a terminal is refused (the value would echo). */
async function valueFromStdin(name: string, tenant: string): Promise<string> {
  if (process.stdin.isTTY) {
    throw new UserError(`statecraft secrets set reads the value from stdin, and stdin is a terminal (it would echo the value): pipe it, e.g. printf %s "$VALUE" | npx statecraft secrets set ${name} --tenant ${tenant}`);
  }
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

export async function secrets(values: CommandValues, [action, name, ...extra]: string[]): Promise<number> {
  if (!action || !ACTIONS.includes(action)) {
    throw new UserError(`Expected set, list, delete or rotate-master-key after "statecraft secrets"${action ? `, found "${action}"` : ''}. ${SEE}`);
  }
  const takesName = action === 'set' || action === 'delete';
  if (extra.length || (!takesName && name !== undefined)) throw new UserError(`Unexpected argument "${[name, ...extra].filter(Boolean).join(' ')}" for "statecraft secrets ${action}". ${SEE}`);
  if (takesName && !name) throw new UserError(`Missing the secret's name. Usage: statecraft secrets ${action} NAME --tenant TENANT. ${SEE}`);
  if (takesName) checkSecretName(name as string);
  const tenant = values.tenant as string | undefined;
  if (action !== 'rotate-master-key' && !tenant) throw new UserError(`--tenant is required: the tenant whose secrets to ${action}. ${SEE}`);
  const file = (values['master-key-file'] as string | undefined) ?? (process.env.STATECRAFT_MASTER_KEY_FILE || undefined);
  // Keys are checked before the store is opened, and only by the actions that use them.
  const keys = action === 'set' || action === 'rotate-master-key' ? loadMasterKeys({ env: process.env, file }) : undefined;
  if ((action === 'set' || action === 'rotate-master-key') && !keys) throw noMasterKey(action === 'set' ? `Setting secret "${name}"` : 'Rotating the master key');
  const value = action === 'set' ? await valueFromStdin(name as string, tenant as string) : undefined;
  const store = openServiceStore(values.store as string | undefined);
  try {
    const vault = new SecretVault(store, keys);
    if (action === 'set') {
      const info = await vault.set(tenant as string, name as string, value as string);
      process.stdout.write(values.json ? `${JSON.stringify(info)}\n` : `Set secret ${info.name} of tenant ${tenant} (version ${info.version}).\n`);
    } else if (action === 'list') {
      const listed = await vault.list(tenant as string);
      process.stdout.write(values.json ? `${JSON.stringify(listed)}\n` : listed.length ? `${listed.map(line).join('\n')}\n` : `Tenant ${tenant} has no secrets.\n`);
    } else if (action === 'delete') {
      if (!(await vault.delete(tenant as string, name as string))) {
        throw new UserError(`Tenant ${tenant} has no secret "${name}": list its secrets with \`npx statecraft secrets list --tenant ${tenant}\`.`);
      }
      process.stdout.write(`Deleted secret ${name} of tenant ${tenant}.\n`);
    } else {
      const report = await rotateMasterKey(store, keys!);
      if (values.json) process.stdout.write(`${JSON.stringify(report)}\n`);
      else {
        process.stdout.write(`Re-wrapped ${report.rewrapped} secret${report.rewrapped === 1 ? '' : 's'} under master key ${report.keyId}${report.changedMeanwhile ? ` (${report.changedMeanwhile} changed meanwhile, already current or gone)` : ''}.\n`);
        for (const failed of report.unreadable) process.stderr.write(`Not re-wrapped: ${failed.reason}\n`);
        process.stderr.write(report.unreadable.length ? `${report.unreadable.length} secret(s) are still under an old master key: keep the previous keys until they are set again or re-wrapped.\n` : 'Every secret is under the current master key: the previous keys can be dropped.\n');
      }
      return report.unreadable.length ? 1 : 0;
    }
    return 0;
  } finally {
    await store.close();
  }
}
