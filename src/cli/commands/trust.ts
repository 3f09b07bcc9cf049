import type { Command } from '../args.ts';
import { storeHelp, storeOptions } from './commonOptions.ts';

export const trustCommand: Command = {
  name: 'trust',
  summary: "name the agent module a run's code is loaded from (for an imported run)",
  usage: 'statecraft trust <run> --agent MODULE [--store URL]',
  help: `Records MODULE (its absolute path) in this store as the module to load <run>'s code from, so that
resume, approve, reject, replay and the inspector's Approve load it without --agent, and forks made
from the run after this inherit it.

A run started in this store by statecraft run already has the module it was started from. A run
imported from a log has none: the module a log names is never loaded on its word, since anyone can
write a log, and on this machine that path may hold other code or none. Read the module you name
here: its code runs with your rights. It is loaded from the path each time, as it is then.

Options:
  --agent MODULE     the agent's module, a file on this machine (required)
${storeHelp}`,
  options: { agent: { type: 'string' }, ...storeOptions },
  load: async () => (await import('../trustCommand.ts')).trust,
};
