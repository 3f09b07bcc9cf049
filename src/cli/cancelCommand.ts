import { UserError } from '../errors.ts';
import { stateAt } from '../log/reads/reads.ts';
import type { RunStore } from '../log/stores/runStore.ts';
import type { AgentContext } from '../protocol/agent.ts';
import { cancelRun } from '../runtime/cancelRun.ts';
import { resumeRun } from '../runtime/resumeRun.ts';
import type { Run } from '../runtime/Run.ts';
import type { CommandValues } from './args.ts';
import { agentForRun, retryHere } from './agentForRun.ts';
import { chooseModel } from './drive.ts';
import { withRun } from './storeOption.ts';
import type { ScriptedServer } from '../testing/scriptedServer.ts';

/** Resumes a run no process holds, with its agent's code, so that it can be cancelled here. */
async function resumeHere(values: CommandValues, store: RunStore, runId: string, servers: ScriptedServer[]): Promise<Run> {
  const module = await agentForRun(store, runId, { agent: values.agent as string | undefined, retry: retryHere(values) });
  const { lastSeq } = await store.summary(runId);
  const { context } = (await stateAt(store, runId, lastSeq)) as unknown as { context: AgentContext };
  const { model, server } = await chooseModel(module, { resumed: context, quiet: true, scripted: values.scripted === true });
  if (server) servers.push(server);
  return resumeRun(module.agent, runId, { store, model });
}

export async function cancel(values: CommandValues, [given]: string[]): Promise<number> {
  if (!given) throw new UserError('Missing the run id. Usage: statecraft cancel <run>; list runs with npx statecraft runs --status running,waiting,created.');
  const by = (values.by as string | undefined) ?? process.env.USER ?? 'cli';
  const reason = (values.reason as string | undefined) ?? `Cancelled by ${by} with statecraft cancel.`;
  return withRun(values, given, async (store, runId) => {
    const before = await store.summary(runId);
    const servers: ScriptedServer[] = [];
    try {
      const { how, summary } = await cancelRun(store, runId, { reason, resume: (id) => resumeHere(values, store, id, servers) });
      const where = how === 'here' ? 'here' : before.owner ? `by pid ${before.owner.pid} on ${before.owner.host}, which was running it` : 'by the process running it';
      if (summary.status === 'cancelled') {
        process.stdout.write(`Run ${runId} cancelled (recorded ${where}).\n`);
        return 0;
      }
      process.stderr.write(
        summary.status === 'running'
          ? `Asked the process running run ${runId} to cancel it, and it has not recorded the cancel yet: it may not watch for requests (an older version, or a store whose live channel it cannot reach). Stop it there with Ctrl-C.\n`
          : `Run ${runId} ended as ${summary.status} before the cancel took effect.\n`,
      );
      return 1;
    } finally {
      await Promise.all(servers.map((server) => server.close()));
    }
  });
}
