import { UserError } from '../errors.ts';
import { StoreNotFoundError } from '../log/format/storageErrors.ts';
import { threadOfHeader } from '../log/stores/listing.ts';
import { forkThread, listThreads, PREVIOUS_LABEL, threadRuns } from '../runtime/threads.ts';
import { intOption, type CommandValues } from './args.ts';
import { table } from './logCommands.ts';
import { withRun, withStore } from './storeOption.ts';
import { withStoreOption } from './suggestedCommands.ts';

const time = (iso: string) => iso.replace('T', ' ').slice(0, 19);

/** `statecraft threads [show ID]`: the store's threads, or the runs of one. */
export async function threads(values: CommandValues, [sub, id, ...extra]: string[]): Promise<number> {
  if (sub === 'show') {
    if (!id || extra.length) throw new UserError('Usage: statecraft threads show <thread> [--tenant ID] [--json]');
    return showThread(values, id);
  }
  if (sub !== undefined) throw new UserError(`Unknown argument "${sub}". Usage: statecraft threads [--json], or statecraft threads show <thread>`);
  const tenant = values.tenant as string | undefined;
  return withStore(values, async (store) => {
    const found = await listThreads(store, { ...(tenant === undefined ? {} : { tenant }), limit: intOption(values, 'limit') ?? 50 });
    if (values.json) {
      process.stdout.write(`${JSON.stringify(found, null, 2)}\n`);
      return 0;
    }
    if (!found.length) {
      process.stdout.write('No threads recorded yet: run an agent as a thread with npx statecraft run <agent module> --thread ID.\n');
      return 0;
    }
    const tenants = found.some((thread) => thread.tenant);
    const rows = [['THREAD', ...(tenants ? ['TENANT'] : []), 'RUNS', 'LAST RUN', 'STATUS', 'AGENT', 'LAST ACTIVITY']];
    for (const thread of found) {
      rows.push([thread.thread, ...(tenants ? [thread.tenant ?? ''] : []), String(thread.runs), thread.lastRunId, thread.lastStatus, thread.agentId, time(thread.updatedAt)]);
    }
    process.stdout.write(withStoreOption(`${table(rows)}\n`, values.store as string | undefined));
    return 0;
  }).catch((error: unknown) => {
    if (!(error instanceof StoreNotFoundError)) throw error;
    process.stderr.write(`${error.message}\n`);
    if (values.json) process.stdout.write('[]\n');
    return 0;
  });
}

async function showThread(values: CommandValues, thread: string): Promise<number> {
  const tenant = values.tenant as string | undefined;
  return withStore(values, async (store) => {
    const runs = await threadRuns(store, { thread, tenant });
    if (!runs.length) throw new UserError(`No runs of thread "${thread}"${tenant ? ` of tenant "${tenant}"` : ''} in this store: list the threads with npx statecraft threads.`);
    const headers = await Promise.all(runs.map((run) => store.header(run.runId)));
    const shown = runs.map((run, i) => ({ ...run, ...(headers[i]!.labels?.[PREVIOUS_LABEL] ? { previous: headers[i]!.labels![PREVIOUS_LABEL] } : {}), input: headers[i]!.input }));
    if (values.json) {
      process.stdout.write(`${JSON.stringify(shown, null, 2)}\n`);
      return 0;
    }
    const rows = [['RUN', 'STATUS', 'AGENT', 'STEPS', 'CREATED', 'FROM', 'INPUT']];
    for (const run of shown) {
      const from = run.parent ? `fork of ${run.parent.runId}` : (run.previous ?? '');
      const input = typeof run.input === 'string' ? run.input.replace(/\s+/g, ' ').slice(0, 60) : '';
      rows.push([run.runId, run.status, run.agentId, String(run.steps), time(run.createdAt), from, input]);
    }
    process.stdout.write(withStoreOption(`${table(rows)}\n`, values.store as string | undefined));
    return 0;
  });
}

/** `statecraft fork <run> --thread NEW`: a new thread that goes on from the end of the run. */
export async function forkIntoThread(values: CommandValues, given: string, newThread: string): Promise<number> {
  return withRun(values, given, async (store, runId) => {
    const { thread, tenant } = threadOfHeader(await store.header(runId));
    const forkId = await forkThread(store, { atRun: runId, newThread, ...(tenant ? { tenant } : {}) });
    process.stdout.write(`${forkId}\n`);
    const from = thread ? ` of thread "${thread}"` : '';
    process.stderr.write(
      withStoreOption(`Thread "${newThread}" goes on from the end of run ${runId}${from} (its first run is the fork ${forkId}). Continue it with: npx statecraft run <agent module> --thread ${newThread}\n`, values.store as string | undefined),
    );
    return 0;
  });
}
