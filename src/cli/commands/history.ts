import type { Command } from '../args.ts';
import { storeHelp, storeOptions } from './commonOptions.ts';

export const historyCommand: Command = {
  name: 'history',
  summary: 'list every record of a run: seq, time, event, state',
  usage: 'statecraft history <run> [--from SEQ] [--to SEQ] [--last N] [--json] [--store URL]',
  help: `Lists a run's records without loading snapshots: the cheap way to find the step to show or fork.
A record that cannot be read is listed as damaged and the others still are; the command then exits 1.

Options:
  --from SEQ         start at this record (default 0)
  --to SEQ           end at this record (default the last)
  --last N           only the last N records
  --json             print one JSON document: an array with an object per record (a record that
                     cannot be read as { seq, damaged })
${storeHelp}`,
  options: { from: { type: 'string' }, to: { type: 'string' }, last: { type: 'string' }, json: { type: 'boolean' }, ...storeOptions },
  load: async () => (await import('../logCommands.ts')).listHistory,
};
