import type { Command } from '../args.ts';
import { storeHelp, storeOptions } from './commonOptions.ts';

export const repairCommand: Command = {
  name: 'repair',
  summary: 'check every record of a run; cut a torn tail back to the last good record',
  usage: 'statecraft repair <run> [--yes] [--store URL]',
  help: `Reads every record of the run and rebuilds every state from its keyframes and patches, reporting
records that cannot be read, are missing, or whose patch does not apply. Without --yes it changes nothing.

With --yes it does one of two things, and nothing else:
  - a torn tail (damaged or missing records with no intact record after them) is removed, and the
    run's summary is rebuilt from the state it now ends in, so it can be resumed or forked;
  - a summary that cannot be read is rebuilt from the last record's state.

It never removes an intact record. When intact records follow a damaged one, it removes nothing and
says which record to fork from; when record 0 is damaged, nothing can be recovered from the run's own
log (delete the run or restore a backup). A record in a newer format is not damage: upgrade Statecraft.

Exit status: 0 when the run is intact or was repaired, 1 when something is wrong and was not changed.

Options:
  --yes              carry out the repair (without it, only report)
${storeHelp}`,
  options: { yes: { type: 'boolean' }, ...storeOptions },
  load: async () => (await import('../repairCommand.ts')).repair,
};
