import { UserError } from '../errors.ts';
import { stateAt } from '../log/reads.ts';
import type { RunStore } from '../log/runStore.ts';
import type { AgentContext } from '../protocol/agent.ts';
import { forkRun } from '../runtime/forkRun.ts';
import { resumeRun } from '../runtime/resumeRun.ts';
import type { Run } from '../runtime/Run.ts';
import type { RunEvent } from '../runtime/runEvents.ts';
import { intOption, type Command } from './args.ts';
import { chooseModel } from './drive.ts';
import { loadAgent } from './loadAgent.ts';
import { onInterrupt } from './shutdown.ts';
import { resolveRunId, storeHelp, storeOptions } from './storeOption.ts';
import { openStore } from '../log/openStore.ts';

/** Runs this process resumed on behalf of the page, so decisions on them go straight to the live run. */
class LocalRuns {
  private readonly runs = new Map<string, Run>();
  private readonly listeners = new Set<(event: RunEvent) => void>();

  constructor(private readonly store: RunStore) {}

  subscribe = (listener: (event: RunEvent) => void) => {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  };

  /** The live run if this process holds it, else resume it from the store. */
  async get(runId: string): Promise<Run> {
    const live = this.runs.get(runId);
    if (live) return live;
    const header = await this.store.header(runId);
    const path = header.labels?.module;
    if (!path) throw new UserError(`Run ${runId} does not record its agent module, so the inspector cannot resume it: use statecraft approve --agent <module>.`);
    const module = await loadAgent(path);
    const { lastSeq } = await this.store.summary(runId);
    const { context } = (await stateAt(this.store, runId, lastSeq)) as unknown as { context: AgentContext };
    const { model, server } = await chooseModel(module, { resumed: context, quiet: true });
    let run: Run;
    try {
      run = await resumeRun(module.agent, runId, { store: this.store, model });
    } catch (error) {
      await server?.close();
      throw error;
    }
    this.runs.set(runId, run);
    run.on((event) => {
      for (const listener of this.listeners) listener(event);
      if (event.type === 'approval.requested' && event.calls.length) setImmediate(() => void run.detach().catch(() => {}));
    });
    void run.result.finally(async () => {
      this.runs.delete(runId);
      await server?.close();
    });
    return run;
  }

  /** Cancels every run this process holds and waits until each has recorded its end. */
  async cancelAll(reason: string): Promise<void> {
    const held = [...this.runs.values()];
    for (const run of held) run.cancel(reason);
    await Promise.allSettled(held.map((run) => run.result));
  }
}

export const inspectCommand: Command = {
  name: 'inspect',
  summary: 'open the local inspector: runs, statechart, time travel, approvals, forks',
  usage: 'statecraft inspect [run] [--port N] [--store URL]',
  help: `Serves the inspector on http://127.0.0.1:<port>/ (loopback only; nothing is loaded from the internet).
It lists runs, draws the agent's statechart with the current state, scrubs through every record,
follows live runs, and approves, rejects or forks from the step on screen. Approving a run that no
process is running resumes it here. Ctrl-C (or SIGTERM) stops the inspector: a run it resumed and
is still running is cancelled, then it exits 0 (a second Ctrl-C exits at once).

Options:
  --port N           port to listen on (default 4777; 0 picks a free one)
${storeHelp}`,
  options: { port: { type: 'string' }, ...storeOptions },
  async run(values, [runId]) {
    const { startInspector } = await import('../inspector/startInspector.ts');
    const store = openStore(values.store as string | undefined);
    const shown = runId === undefined ? undefined : await resolveRunId(store, runId).catch(async (error: unknown) => {
      await store.close();
      throw error;
    });
    const local = new LocalRuns(store);
    const port = values.port === '0' ? 0 : (intOption(values, 'port') ?? 4777);
    const inspector = await startInspector({
      store,
      port,
      live: { subscribe: local.subscribe },
      actions: {
        approve: async (id, callId, by, argsHash, actor) =>
          (await local.get(id)).approve(callId, { by, ...(argsHash ? { argsHash } : {}), ...(actor === undefined ? {} : { actor }) }),
        reject: async (id, callId, reason, by, argsHash, actor) =>
          (await local.get(id)).reject(callId, reason, { by, ...(argsHash ? { argsHash } : {}), ...(actor === undefined ? {} : { actor }) }),
        fork: (id, seq, edit) => forkRun(store, id, seq, edit ? { edit } : {}),
      },
    });
    process.stdout.write(`Statecraft inspector: ${inspector.url}${shown ? `#/runs/${shown}` : ''}\nPress Ctrl-C to stop.\n`);
    const signal = await new Promise<NodeJS.Signals>((resolve) => onInterrupt(resolve));
    // Runs resumed here (by the Approve button) are cancelled and recorded so, as `statecraft run` does on Ctrl-C.
    await local.cancelAll(`Interrupted (${signal}): the inspector that ran it stopped.`);
    await inspector.close();
    await store.close();
    return 0;
  },
};
