import type { Command } from '../args.ts';
import { storeHelp, storeOptions } from './commonOptions.ts';

export const verifyCommand: Command = {
  name: 'verify',
  summary: 'check that a run (or an exported file) is whole and unaltered',
  usage: 'statecraft verify <run> [--json] [--store URL] | statecraft verify --file FILE [--verify-key KEY] [--json]',
  help: `Checks a stored run: its header, that every record can be read, none is missing and each patch
applies, and that each record holds the checksum it was written with, over its content and the
checksum of the record before it (record 0's, over the header's). The first record that fails is named
by seq. With --file, checks an exported file instead, as import would, and its trailer (the record
count and the checksum of every line); with --verify-key, also that the file is signed with that key.

What it proves: without a key, that the log was neither damaged nor changed without working out
every later checksum again. Anyone who can write to the store and run Statecraft's code could do
that, and a run cut back at its end along with its summary reads as a shorter run. A file signed
with --sign-key and checked here with --verify-key is exactly what the key's holder exported.

Exit status: 0 when intact, 1 when damaged or altered, 2 for a usage error.

Options:
  --file FILE        check an export (statecraft export <run> --out FILE) instead of a stored run
  --verify-key KEY   with --file: the Ed25519 public key (PEM) the export must be signed with
  --json             print the findings as one JSON document
${storeHelp}`,
  options: { file: { type: 'string' }, 'verify-key': { type: 'string' }, json: { type: 'boolean' }, ...storeOptions },
  load: async () => (await import('../verifyCommand.ts')).verify,
};
