import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { ConflictError, UserError } from '../errors.ts';
import type { RunStore } from '../log/stores/runStore.ts';
import type { CommandValues } from './args.ts';
import { withRun } from './storeOption.ts';

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

export async function trust(values: CommandValues, [runId]: string[]): Promise<number> {
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
}
