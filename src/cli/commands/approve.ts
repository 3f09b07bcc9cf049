import type { Command } from '../args.ts';
import { laterApproveHelp, resumeOptions, resumeOptionsHelp } from './commonOptions.ts';

export const approveCommand: Command = {
  name: 'approve',
  summary: 'approve tool calls a run waits on, then continue it',
  usage: 'statecraft approve <run> [call ...] [--by NAME] [--hash HASH] [--always] [--actor PATH] [--approve MODE] [--agent MODULE] [--take-over] [--model NAME] [--scripted] [--json] [--store URL]',
  help: `Approves the named tool calls (all waiting calls when none is named) and continues the run until it
ends or waits again. Calls not named keep waiting.

Every decision is recorded with the call id and the hash of the arguments it applies to.

A run submitted to the workers (statecraft submit) is not continued here: the decision is recorded
with the run's ticket and a worker continues the run; the command returns at once.

Options:
  --by NAME          who approves (recorded with the decision; default $USER)
  --hash HASH        the arguments hash you reviewed (shown by statecraft runs and show); refused if
                     the call's arguments differ
  --always           approve this tool for the rest of the run
  --actor PATH       the invoked agent holding the call (as statecraft runs lists it; '' for the run's
                     own agent): needed only when agents wait on calls with the same id
${laterApproveHelp}
${resumeOptionsHelp}`,
  options: { ...resumeOptions, by: { type: 'string' }, approve: { type: 'string' }, hash: { type: 'string' }, always: { type: 'boolean' }, actor: { type: 'string' } },
  load: async () => (await import('../resumeCommands.ts')).approve,
};
