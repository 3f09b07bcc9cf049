import type { Command } from '../args.ts';
import { storeHelp, storeOptions } from './commonOptions.ts';

export const threadsCommand: Command = {
  name: 'threads',
  summary: 'list conversation threads (runs that share a conversation), or the runs of one',
  usage: 'statecraft threads [show <thread>] [--tenant ID] [--limit N] [--json] [--store URL]',
  help: `Lists threads, the latest active first: each thread's id, how many runs it has, its last run,
that run's status and agent, and when it last changed. A thread is started and continued with
statecraft run <agent module> --thread ID, and forked with statecraft fork <run> --thread NEW.
statecraft threads show <thread> lists the runs of one thread, oldest first, with the run each one
continues from (FROM) and its input.

Options:
  --tenant ID        only threads of this tenant (runs started by the service carry their tenant)
  --limit N          at most N threads (default 50)
  --json             print one JSON document: an array of threads (or of the thread's runs)
${storeHelp}`,
  options: { tenant: { type: 'string' }, limit: { type: 'string' }, json: { type: 'boolean' }, ...storeOptions },
  load: async () => (await import('../threadCommands.ts')).threads,
};
