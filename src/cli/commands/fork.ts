import type { Command } from '../args.ts';
import { storeHelp, storeOptions } from './commonOptions.ts';

export const forkCommand: Command = {
  name: 'fork',
  summary: 'start a new run from any step of another, optionally with its context edited',
  usage: 'statecraft fork <run> (--at SEQ [--edit JSON | --edit-file FILE] | --thread NEW) [--store URL]',
  help: `Creates a new run whose history begins at record SEQ of <run> (the parent is never changed) and
prints its id. Continue it with: statecraft resume <new run>.

With --thread NEW, starts conversation thread NEW from the end of <run> (a run of a thread that has
ended): the next run of NEW (statecraft run <agent> --thread NEW) continues from <run>'s messages.

Options:
  --at SEQ           the record to fork from (see statecraft history)
  --thread NEW       fork a thread: NEW must have no runs yet
  --edit JSON        an RFC 6902 JSON patch applied to the context, paths relative to it, e.g.
                     '[{"op":"replace","path":"/messages/4/content","value":"the API is down"}]'
  --edit-file FILE   the same patch read from a file
${storeHelp}`,
  options: { at: { type: 'string' }, thread: { type: 'string' }, edit: { type: 'string' }, 'edit-file': { type: 'string' }, ...storeOptions },
  load: async () => (await import('../timeTravelCommands.ts')).fork,
};
