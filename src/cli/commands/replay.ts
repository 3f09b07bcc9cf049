import type { Command } from '../args.ts';
import { storeHelp, storeOptions, agentOptionHelp } from './commonOptions.ts';

export const replayCommand: Command = {
  name: 'replay',
  summary: 'check that the current code reproduces a recorded run, step by step',
  usage: 'statecraft replay <run> [--agent MODULE] [--json] [--store URL]',
  help: `Drives the agent's machine with the run's recorded events, calling no model and no tool, and
compares every patch with the recorded one. Exits 0 when all match; otherwise 1, naming the first
record that differs with the expected and actual patch. Replay starts from the run's recorded first
state, so a change to the agent's instructions or limits is not replayed: it is printed as a warning,
as is a change of the agent's name or machine.

Options:
${agentOptionHelp}
  --json             print the report as one JSON document
${storeHelp}`,
  options: { agent: { type: 'string' }, json: { type: 'boolean' }, ...storeOptions },
  load: async () => (await import('../timeTravelCommands.ts')).replay,
};
