import type { Command } from '../args.ts';
import { agentOptionHelp, storeHelp, storeOptions } from './commonOptions.ts';

export const cancelCommand: Command = {
  name: 'cancel',
  summary: 'cancel a run, wherever it runs',
  usage: 'statecraft cancel <run> [--reason TEXT] [--by NAME] [--agent MODULE] [--scripted] [--store URL]',
  help: `Cancels a run that has not ended and records it cancelled, as Ctrl-C in its terminal would: the
model and tool calls in flight are aborted.

A run that another process is running (statecraft run in another terminal, a worker) is asked to stop
through the store's live channel, and that process records the cancel; this waits up to 15 s for it.
A run no process holds (waiting for approval, a fork never started, a run whose process is gone) is
resumed here, with its agent's code, and cancelled.

Exit codes: 0 cancelled, 1 the run did not record the cancel (it ended otherwise, or its process did
not answer), 2 usage or configuration error (a run that already ended, say).

Options:
  --reason TEXT      why, recorded with the cancel (default: who cancelled it, with this command)
  --by NAME          who cancels (default $USER)
${agentOptionHelp}
  --scripted         play the module's script even when an endpoint is configured
${storeHelp}`,
  options: { reason: { type: 'string' }, by: { type: 'string' }, agent: { type: 'string' }, scripted: { type: 'boolean' }, ...storeOptions },
  load: async () => (await import('../cancelCommand.ts')).cancel,
};
