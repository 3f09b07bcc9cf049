import type { Command } from '../args.ts';
import { storeHelp, storeOptions } from './commonOptions.ts';

export const showCommand: Command = {
  name: 'show',
  summary: "show a run at any step: state, context, messages, that step's event and patch",
  usage: 'statecraft show <run> [--at SEQ] [--json] [--store URL]',
  help: `Shows the run as it was after record SEQ (default: the last one), rebuilt from the nearest
indexed state (or keyframe) and the patches after it. At the last record it also gives the run's
status and why it ended, as statecraft runs lists them.

Options:
  --at SEQ           the record to show (see statecraft history)
  --json             print one JSON document: { record, snapshot }
${storeHelp}`,
  options: { at: { type: 'string' }, json: { type: 'boolean' }, ...storeOptions },
  load: async () => (await import('../logCommands.ts')).showRun,
};
