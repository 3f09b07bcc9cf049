import type { Command } from '../args.ts';
import { laterApproveHelp, resumeOptions, resumeOptionsHelp } from './commonOptions.ts';

export const rejectCommand: Command = {
  name: 'reject',
  summary: 'reject a tool call a run waits on, with a reason the model sees',
  usage: 'statecraft reject <run> <call> --reason TEXT [--by NAME] [--hash HASH] [--actor PATH] [--approve MODE] [--agent MODULE] [--take-over] [--model NAME] [--scripted] [--json] [--store URL]',
  help: `Rejects one waiting tool call; the model receives the reason as that call's result. The run then
continues if nothing else waits.

A run submitted to the workers (statecraft submit) is not continued here: the decision is recorded
with the run's ticket and a worker continues the run; the command returns at once.

Options:
  --reason TEXT      what the model is told (required)
  --by NAME          who rejects (default $USER)
  --hash HASH        the arguments hash you reviewed; refused if the call's arguments differ
  --actor PATH       the invoked agent holding the call ('' for the run's own agent): needed only when
                     agents wait on calls with the same id
${laterApproveHelp}
${resumeOptionsHelp}`,
  options: { ...resumeOptions, by: { type: 'string' }, reason: { type: 'string' }, approve: { type: 'string' }, hash: { type: 'string' }, actor: { type: 'string' } },
  load: async () => (await import('../resumeCommands.ts')).reject,
};
