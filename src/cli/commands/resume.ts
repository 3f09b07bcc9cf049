import type { Command } from '../args.ts';
import { approveHelp, resumeOptions, resumeOptionsHelp } from './commonOptions.ts';

export const resumeCommand: Command = {
  name: 'resume',
  summary: 'continue a recorded run after a pause or a crash',
  usage: 'statecraft resume <run> [--approve MODE] [--agent MODULE] [--take-over] [--model NAME] [--scripted] [--json] [--store URL]',
  help: `Continues a run from its last record, in this process. A model call that was in flight is asked
again; a tool call that started and never finished runs again only if its tool says that is safe
(onResume: 'rerun'), otherwise it waits for a human (onResume: 'ask') or the run fails ('fail').

A run that another process is still running is refused (exit 2): it names that process. A run whose
process crashed on this machine can be resumed at once; one from another machine once its claim is
30 s old, or at once with --take-over.

Options:
${approveHelp}
${resumeOptionsHelp}`,
  options: { ...resumeOptions, approve: { type: 'string' } },
  load: async () => (await import('../resumeCommands.ts')).resume,
};
