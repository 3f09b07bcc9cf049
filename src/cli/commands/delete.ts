import type { Command } from '../args.ts';
import { storeHelp, storeOptions } from './commonOptions.ts';

export const deleteCommand: Command = {
  name: 'delete',
  summary: 'delete runs and all their records',
  usage: 'statecraft delete <run> [<run> ...] [--yes] [--store URL]',
  help: `Deletes runs from the store: their records, indexed states and summaries. Forks of a deleted run
keep their own records and still name it as their parent. Without --yes, only says what would go.

Options:
  --yes              delete (without it, nothing is changed)
${storeHelp}`,
  options: { yes: { type: 'boolean' }, ...storeOptions },
  load: async () => (await import('../logCommands.ts')).deleteRuns,
};
