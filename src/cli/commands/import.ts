import type { Command } from '../args.ts';
import { storeHelp, storeOptions } from './commonOptions.ts';

export const importCommand: Command = {
  name: 'import',
  summary: 'load a run exported as JSON Lines, checking every record',
  usage: 'statecraft import <file> [--as RUN] [--verify-key KEY] [--partial] [--store URL]',
  help: `Validates every line (format version, checksums and their chain, order, that each patch applies)
and the trailer (the record count and the checksum of every line), then stores the run. A file that
ends without its trailer (or, exported before trailers, without its summary line) was cut short and
is refused, unless --partial.

No code is loaded for an imported run from the module its log names: resume, approve, reject, replay
and the inspector need --agent MODULE, or statecraft trust <run> --agent MODULE once.

Options:
  --as RUN           store it under a new run id
  --verify-key KEY   refuse the file unless it is signed with this Ed25519 key (its public key, PEM)
  --partial          import the records of a file cut short (no trailer or summary line), as a run ending at the last of them
${storeHelp}`,
  options: { as: { type: 'string' }, 'verify-key': { type: 'string' }, partial: { type: 'boolean' }, ...storeOptions },
  load: async () => (await import('../timeTravelCommands.ts')).importFile,
};
