import { UserError } from '../errors.ts';
import { stateAt } from '../log/reads/reads.ts';
import type { RunStore } from '../log/stores/runStore.ts';
import type { AgentContext } from '../protocol/agent.ts';
import { forkRun } from '../runtime/forkRun.ts';
import { resumeRun } from '../runtime/resumeRun.ts';
import { cancelRun } from '../runtime/cancelRun.ts';
import type { Run } from '../runtime/Run.ts';
import type { RunEvent } from '../runtime/runEvents.ts';
import { intOption, type CommandValues } from './args.ts';
import { chooseModel } from './drive.ts';
import { agentForRun, retryHere, type AgentChoice } from './agentForRun.ts';
import { loadAgent, type AgentModule } from './loadAgent.ts';
import { onInterrupt } from './shutdown.ts';
import { resolveRunId } from './storeOption.ts';
import { openStore } from '../log/stores/openStore.ts';
import type { PostgresStore } from '../log/stores/postgres/postgresStore.ts';
import { decideQueued, isWorkersRun } from '../worker/decideQueued.ts';

/** Runs this process resumed on behalf of the page, so decisions on them go straight to the live run. */
class LocalRuns {
  private readonly runs = new Map<string, Run>();
  private readonly listeners = new Set<(event: RunEvent) => void>();

  constructor(
    private readonly store: RunStore,
    private readonly choice: AgentChoice,
  ) {}

  subscribe = (listener: (event: RunEvent) => void) => {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  };

  /** The live run if this process holds it, else resume it from the store (with `model`, a model name, if given). */
  async get(runId: string, options: { model?: string } = {}): Promise<Run> {
    const live = this.runs.get(runId);
    if (live) return live;
    const module = await agentForRun(this.store, runId, this.choice);
    const { lastSeq } = await this.store.summary(runId);
    const { context } = (await stateAt(this.store, runId, lastSeq)) as unknown as { context: AgentContext };
    const { model, server } = await chooseModel(module, { resumed: context, quiet: true, ...(options.model ? { model: options.model } : {}) });
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

  /** The run if this process holds it. */
  held(runId: string): Run | undefined {
    return this.runs.get(runId);
  }

  /** Cancels every run this process holds and waits until each has recorded its end. */
  async cancelAll(reason: string): Promise<void> {
    const held = [...this.runs.values()];
    for (const run of held) run.cancel(reason);
    await Promise.allSettled(held.map((run) => run.result));
  }
}

/** The modules named with --agent, loaded now; two that define one agent are refused, as neither could be told from the other. */
async function namedAgents(paths: string[]): Promise<AgentModule[]> {
  const modules: AgentModule[] = [];
  for (const path of paths) {
    const module = await loadAgent(path);
    const same = modules.find((other) => other.agent.name === module.agent.name);
    if (same) throw new UserError(`--agent ${path} and --agent ${same.path} both define agent "${module.agent.name}": name one module per agent.`);
    modules.push(module);
  }
  return modules;
}

export async function inspect(values: CommandValues, [runId]: string[]): Promise<number> {
  const { startInspector } = await import('../inspector/startInspector.ts');
  const { checkTokenShape } = await import('../inspector/accessRules.ts');
  const token = (values.token as string | undefined) ?? (process.env.STATECRAFT_INSPECTOR_TOKEN || undefined);
  if (token !== undefined) checkTokenShape(token, values.token === undefined ? 'STATECRAFT_INSPECTOR_TOKEN' : '--token');
  const agents = await namedAgents((values.agent as unknown as string[] | undefined) ?? []);
  const store = openStore(values.store as string | undefined);
  const shown = runId === undefined ? undefined : await resolveRunId(store, runId).catch(async (error: unknown) => {
    await store.close();
    throw error;
  });
  const local = new LocalRuns(store, { agents, retry: retryHere(values) });
  const port = values.port === '0' ? 0 : (intOption(values, 'port') ?? 4777);
  const inspector = await startInspector({
    ...(values.host === undefined ? {} : { host: values.host as string }),
    ...(token === undefined ? {} : { token }),
    store,
    port,
    // The store's live channel carries the text of the runs resumed here too.
    ...(store.liveChannel ? {} : { live: { subscribe: local.subscribe } }),
    agentFor: async (id) => (await agentForRun(store, id, { agents, retry: retryHere(values) })).agent,
    actions: {
      // A run submitted to the workers is continued by one of them: the decision is queued for it.
      approve: async (id, callId, by, argsHash, actor) => {
        const bound = { by, ...(argsHash ? { argsHash } : {}), ...(actor === undefined ? {} : { actor }) };
        if (!local.held(id) && (await isWorkersRun(store, id))) await decideQueued(store as PostgresStore, id, [{ kind: 'approve', callId, ...bound }]);
        else (await local.get(id)).approve(callId, bound);
      },
      reject: async (id, callId, reason, by, argsHash, actor) => {
        const bound = { by, ...(argsHash ? { argsHash } : {}), ...(actor === undefined ? {} : { actor }) };
        if (!local.held(id) && (await isWorkersRun(store, id))) await decideQueued(store as PostgresStore, id, [{ kind: 'reject', callId, reason, ...bound }]);
        else (await local.get(id)).reject(callId, reason, bound);
      },
      fork: (id, seq, edit) => forkRun(store, id, seq, edit ? { edit } : {}),
      cancel: async (id, reason) => {
        const held = local.held(id);
        if (held) {
          held.cancel(reason);
          await held.result.catch(() => undefined);
          return (await store.summary(id)).status;
        }
        return (await cancelRun(store, id, { reason, resume: (runId) => local.get(runId) })).summary.status;
      },
      resume: async (id, model) => {
        const { status } = await store.summary(id);
        if (status !== 'created' && status !== 'running') {
          throw new UserError(`Run ${id} is ${status}: only a fork not started yet (or a run whose process is gone) is started from here; approve or reject a waiting run's calls instead.`);
        }
        await local.get(id, model ? { model } : {});
      },
    },
  });
  process.stdout.write(`Statecraft inspector: ${inspector.link(shown)}\n`);
  if (!inspector.loopbackOnly) {
    const { port } = new URL(inspector.url);
    process.stdout.write(
      `Listening on ${values.host}:${port}, which is not loopback only: anyone who has this token can read every run and approve, reject or fork.\n` +
        `From another machine, put this machine's address in the link. The token and the runs travel as plain HTTP: use a network you trust, or an SSH tunnel.\n`,
    );
  } else if (inspector.tokenRequired) process.stdout.write('Anyone who has this token can read every run and approve, reject or fork.\n');
  process.stdout.write('Press Ctrl-C to stop.\n');
  const signal = await new Promise<NodeJS.Signals>((resolve) => onInterrupt(resolve));
  // Runs resumed here (by the Approve button) are cancelled and recorded so, as `statecraft run` does on Ctrl-C.
  await local.cancelAll(`Interrupted (${signal}): the inspector that ran it stopped.`);
  await inspector.close();
  await store.close();
  return 0;
}
