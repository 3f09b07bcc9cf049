import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { ConflictError, UserError } from '../errors.ts';
import type { RunStore } from '../log/stores/runStore.ts';
import type { Command } from './args.ts';
import { storeHelp, storeOptions, withRun } from './storeOption.ts';

/** Records `module` as the one the store loads the run's code from; a write racing the run's own is retried on the new last seq. */
async function recordModule(store: RunStore, runId: string, module: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const { lastSeq, updatedAt } = await store.summary(runId);
    try {
      // updatedAt is kept: trusting a run is no sign of life from the process that may claim it.
      await store.append(runId, [], { expectedSeq: lastSeq + 1, summary: { agentModule: module, updatedAt } });
      return;
    } catch (error) {
      if (!(error instanceof ConflictError) || attempt === 5) throw error;
    }
  }
}

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
  async run(values, [runId]) {
    if (!runId) throw new UserError('Missing the run id. Usage: statecraft trust <run> --agent MODULE');
    const given = values.agent as string | undefined;
    if (!given) throw new UserError(`Missing --agent: name the agent module to load run ${runId}'s code from, a file you have read. Usage: statecraft trust <run> --agent MODULE`);
    const module = resolve(given);
    if (!statSync(module, { throwIfNoEntry: false })?.isFile()) {
      throw new UserError(`Agent module not found: ${module} is not a file. Pass the path of the .ts or .js file that exports the run's agent.`);
    }
    return withRun(values, runId, async (store, runId) => {
      const { labels } = await store.header(runId);
      await recordModule(store, runId, module);
      const logged = labels?.module === undefined || labels.module === module ? '' : ` (its log names ${JSON.stringify(labels.module)}, which is not loaded)`;
      process.stdout.write(`Run ${runId}: its code is loaded from ${module} from now on${logged}, unless --agent names another.\n`);
      return 0;
    });
  },
};
