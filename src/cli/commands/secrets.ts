import type { Command } from '../args.ts';
import { storeHelp, storeOptions } from './commonOptions.ts';

export const secretsCommand: Command = {
  name: 'secrets',
  summary: "manage the service's per-tenant secrets, encrypted at rest: set, list, delete, rotate-master-key",
  usage: 'statecraft secrets set|list|delete|rotate-master-key [name] [--tenant TENANT] [--store URL]',
  help: `Secrets of statecraft serve, per tenant: the tools of a tenant's runs receive them through their
credentials (declared by the tool, granted to the agent), and they are redacted from run logs, model
requests and telemetry. Values are never shown again: only names, versions and times.

  statecraft secrets set NAME --tenant TENANT
      Reads the value from stdin (never from an argument, which ps and shell history would show), one
      trailing newline dropped, and stores it encrypted: a new version when NAME is set already.
      printf %s "$GITHUB_TOKEN" | npx statecraft secrets set github_token --tenant acme
  statecraft secrets list --tenant TENANT
      Lists the tenant's secrets: names, versions, times and the id of the master key wrapping each.
  statecraft secrets delete NAME --tenant TENANT
      Deletes the secret; runs that ask for it from then on do not find it.
  statecraft secrets rotate-master-key
      Re-wraps the data key of every secret of every tenant under the current master key, the
      previous keys reading the old wrapping; values are never decrypted. Once it reports no secret
      unreadable, drop the previous keys. Exit 1 when some secret could not be re-wrapped.

Each value is encrypted (AES-256-GCM) with its own random data key, bound to its tenant and name; the
data key is wrapped by the master key:
  STATECRAFT_MASTER_KEY           the current master key, base64 of 32 bytes (openssl rand -base64 32)
  STATECRAFT_MASTER_KEY_PREVIOUS  earlier master keys, comma-separated, still read (for a rotation)

Options:
  --tenant TENANT    the tenant (set, list, delete; required)
  --master-key-file FILE  the master key from a file of mode 600 instead: the current key on its
                     first line, previous keys on later lines (STATECRAFT_MASTER_KEY_FILE)
  --json             print JSON (list, rotate-master-key)
${storeHelp}
                     (the service's database; memory: is refused)

Exit codes: 0 done, 1 some secret could not be re-wrapped or read, 2 usage or configuration error.`,
  options: { tenant: { type: 'string' }, 'master-key-file': { type: 'string' }, json: { type: 'boolean' }, ...storeOptions },
  load: async () => (await import('../secretsCommand.ts')).secrets,
};
