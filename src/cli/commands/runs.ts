import type { Command } from '../args.ts';
import { storeHelp, storeOptions, RUN_STATUSES } from './commonOptions.ts';

export const runsCommand: Command = {
  name: 'runs',
  summary: 'list recorded runs: status, agent, steps, tokens, cost, what they wait on or why they ended',
  usage: 'statecraft runs [--status LIST] [--agent NAME] [--parent RUN] [--since TIME] [--limit N] [--json] [--store URL]',
  help: `Lists runs, newest first. The note says what a run waits on, which process runs it, or why it
ended (its reason: a failure in the error's own words, naming an invoked agent that failed or halted).

Options:
  --status LIST      only these statuses, comma-separated: ${RUN_STATUSES.join(', ')}
  --agent NAME       only runs of this agent
  --parent RUN       only forks of this run
  --since TIME       only runs updated after TIME: an ISO time (2026-11-30T09:00Z) or an age (30m, 2h, 7d)
  --limit N          at most N runs (default 50)
  --json             print one JSON document: an array of run summaries ([] when there are none)
${storeHelp}`,
  options: { status: { type: 'string' }, agent: { type: 'string' }, parent: { type: 'string' }, since: { type: 'string' }, limit: { type: 'string' }, json: { type: 'boolean' }, ...storeOptions },
  load: async () => (await import('../logCommands.ts')).listRuns,
};
