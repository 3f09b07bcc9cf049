import type { Command } from '../args.ts';
import { storeHelp, storeOptions } from './commonOptions.ts';

export const exportCommand: Command = {
  name: 'export',
  summary: 'write a run as JSON Lines (to move it between stores or attach it to a bug report)',
  usage: 'statecraft export <run> [--out FILE] [--sign-key KEY] [--store URL]',
  help: `Writes the run's header, every record and its summary, one JSON object per line, then a trailer
with the record count and the SHA-256 of every line before it, so that import refuses a file cut short
or changed. Each record's checksum is checked first: an altered run is not exported.

Options:
  --out FILE         write to FILE instead of standard output
  --sign-key KEY     sign the trailer with this Ed25519 private key (PEM; make one with
                     openssl genpkey -algorithm ed25519 -out KEY), so that whoever holds its public
                     key can check the file with statecraft verify --file FILE --verify-key PUB
${storeHelp}`,
  options: { out: { type: 'string' }, 'sign-key': { type: 'string' }, ...storeOptions },
  load: async () => (await import('../timeTravelCommands.ts')).exportRun,
};
