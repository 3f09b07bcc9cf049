import type { Command } from '../args.ts';
import { storeHelp, storeOptions } from './commonOptions.ts';

export const keysCommand: Command = {
  name: 'keys',
  summary: "manage the service's API keys: create (shown once), list, revoke",
  usage: 'statecraft keys create|list|revoke [key] --tenant TENANT [--scopes LIST] [--store URL]',
  help: `API keys of statecraft serve. Each belongs to one tenant and holds scopes:
  runs:create        start runs, fork and cancel them
  runs:read          read, list and stream runs
  approvals:decide   approve and reject the calls runs wait on
  secrets:write      set, list and delete the tenant's secrets (PUT/GET/DELETE /v1/secrets);
                     no scope reads a secret's value back
  admin              all of these, and manage the tenant's keys (POST/GET/DELETE /v1/keys)

  statecraft keys create --tenant TENANT --scopes LIST [--name NAME] [--expires WHEN]
      Prints the new key on stdout, alone on its line. It is shown this once: only its hash is
      stored. A new tenant is created with its first key.
  statecraft keys list --tenant TENANT
      Lists the tenant's keys (ids, names, scopes, expiry, revocation), never their secrets.
  statecraft keys revoke KEY_ID --tenant TENANT
      Revokes a key at once; requests with it are refused (401) from then on.

Options:
  --tenant TENANT    the tenant (letters, digits, . _ -; required)
  --scopes LIST      comma-separated scopes (create; required)
  --name NAME        a note to tell keys apart (create)
  --expires WHEN     when the key stops working: an age (45m, 12h, 30d) or an ISO time (create)
  --json             print JSON
${storeHelp}`,
  options: { tenant: { type: 'string' }, scopes: { type: 'string' }, name: { type: 'string' }, expires: { type: 'string' }, json: { type: 'boolean' }, ...storeOptions },
  load: async () => (await import('../keysCommand.ts')).keys,
};
