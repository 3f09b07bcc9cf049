import { UserError } from '../../errors.ts';
import { ENDED_STATUSES } from '../../log/format/record.ts';
import type { RunStore } from '../../log/stores/runStore.ts';
import type { Agent } from '../../runtime/defineAgent.ts';
import { resumeRun } from '../../runtime/resumeRun.ts';
import type { RunOptions } from '../../runtime/runOptions.ts';
import type { Run } from '../../runtime/Run.ts';
import type { RunEvent } from '../../runtime/runEvents.ts';
import { startRun } from '../../runtime/startRun.ts';
import { decisionTarget } from '../../runtime/waitingCalls.ts';
import type { PostgresStore } from '../../log/stores/postgres/postgresStore.ts';
import { decideQueued, isWorkersRun } from '../../worker/decideQueued.ts';
import type { Decision, RunExecutor, StartRequest } from './RunExecutor.ts';

const FINAL = new Set<string>(ENDED_STATUSES);

/** A call a run waits on, as its summary records it. */
interface StoredCall {
  callId: string;
  tool: string;
  argsHash?: string;
  actor?: string;
}

/** A loaded agent, and the module it came from (recorded with its runs, so the CLI can resume them too). */
export interface LoadedAgent {
  agent: Agent;
  module?: string;
}

/** Options a run gets from the labels in its header (its tenant's model quotas and secrets, for example). */
export type RunOptionsFor = (labels: Readonly<Record<string, string>>) => Pick<RunOptions, 'beforeModelCall' | 'onEvent' | 'credentials'>;

/**
 * Runs agents in this process through the runtime's startRun and resumeRun. A run that comes to wait
 * for people is let go (detached), so a decision may reach any instance; the decision resumes it.
 */
export class InProcessExecutor implements RunExecutor {
  readonly #store: RunStore;
  readonly #agents = new Map<string, LoadedAgent>();
  readonly #runs = new Map<string, Run>();
  readonly #listeners = new Set<(event: RunEvent) => void>();
  /** Listeners of one run each (a stream each): an event reaches its run's, not every open stream's. */
  readonly #runListeners = new Map<string, Set<(event: RunEvent) => void>>();
  /** One action at a time per run: two decisions arriving together must not both resume it. */
  readonly #locks = new Map<string, Promise<unknown>>();
  /** Runs being let go: a decision must wait for that to finish, or the run would drop it unrecorded. */
  readonly #detaching = new Map<string, Promise<unknown>>();
  #closing = false;
  readonly #optionsFor: RunOptionsFor;

  constructor(store: RunStore, agents: LoadedAgent[], optionsFor: RunOptionsFor = () => ({})) {
    this.#store = store;
    this.#optionsFor = optionsFor;
    for (const loaded of agents) {
      const same = this.#agents.get(loaded.agent.name);
      if (same) throw new UserError(`Two agent modules define agent "${loaded.agent.name}" (${same.module ?? 'given in code'} and ${loaded.module ?? 'given in code'}): give one module per agent.`);
      this.#agents.set(loaded.agent.name, loaded);
    }
  }

  agentIds(): string[] {
    return [...this.#agents.keys()];
  }

  holds(runId: string): boolean {
    return this.#runs.has(runId);
  }

  subscribe(listener: (event: RunEvent) => void, runId?: string): () => void {
    if (runId === undefined) {
      this.#listeners.add(listener);
      return () => void this.#listeners.delete(listener);
    }
    let listeners = this.#runListeners.get(runId);
    if (!listeners) this.#runListeners.set(runId, (listeners = new Set()));
    listeners.add(listener);
    const held = listeners;
    return () => {
      held.delete(listener);
      if (!held.size && this.#runListeners.get(runId) === held) this.#runListeners.delete(runId);
    };
  }

  #agent(agentId: string): LoadedAgent {
    const loaded = this.#agents.get(agentId);
    if (loaded) return loaded;
    throw new UserError(`No agent "${agentId}" is served here; agents served: ${this.agentIds().join(', ') || 'none'}. Start the service with --agents naming its module.`);
  }

  #refuseWhenClosing(): void {
    if (this.#closing) throw new UserError('The service is shutting down and starts no run: retry against another instance, or once it is back.');
  }

  /** Keeps the run until it ends or waits for people, and passes its events on. */
  #hold(run: Run): Promise<void> {
    this.#runs.set(run.runId, run);
    let began!: () => void;
    const beginning = new Promise<void>((resolve) => (began = resolve));
    run.on((event) => {
      began();
      for (const listener of this.#listeners) listener(event);
      for (const listener of this.#runListeners.get(event.runId) ?? []) listener(event);
      if (event.type === 'approval.requested' && event.calls.length) {
        setImmediate(() => {
          // Refused when a decision came first and nothing waits any more: the run then goes on here.
          const detaching = run.detach().catch(() => undefined);
          this.#detaching.set(run.runId, detaching);
          void detaching.then(() => this.#detaching.get(run.runId) === detaching && this.#detaching.delete(run.runId));
        });
      }
    });
    void run.result.then(
      () => this.#runs.delete(run.runId),
      () => this.#runs.delete(run.runId),
    );
    // The header (new run) or the resume note (restored run) is written before the first event.
    return Promise.race([beginning, run.result.then(() => undefined)]);
  }

  /** The run if this process still holds it once any letting go under way has finished. */
  async #live(runId: string): Promise<Run | undefined> {
    await this.#detaching.get(runId);
    return this.#runs.get(runId);
  }

  async #serially<T>(runId: string, action: () => Promise<T>): Promise<T> {
    const before = this.#locks.get(runId) ?? Promise.resolve();
    const next = before.then(action, action);
    const settled = next.catch(() => undefined);
    this.#locks.set(runId, settled);
    void settled.then(() => this.#locks.get(runId) === settled && this.#locks.delete(runId));
    return next;
  }

  async start(request: StartRequest): Promise<void> {
    this.#refuseWhenClosing();
    const { agent, module } = this.#agent(request.agentId);
    const labels = { ...request.labels, ...(module ? { module } : {}) };
    const run = startRun(agent, { ...this.#optionsFor(labels), runId: request.runId, input: request.input, ...(request.history ? { history: request.history } : {}), store: this.#store, labels });
    await this.#hold(run);
  }

  async resume(runId: string): Promise<void> {
    this.#refuseWhenClosing();
    await this.#serially(runId, async () => {
      const header = await this.#store.header(runId);
      await this.#hold(await resumeRun(this.#agent(header.agent.id).agent, runId, { ...this.#optionsFor(header.labels ?? {}), store: this.#store }));
    });
  }

  async decide(runId: string, decision: Decision): Promise<void> {
    await this.#serially(runId, async () => {
      const live = await this.#live(runId);
      if (!live) {
        const summary = await this.#store.summary(runId);
        const waiting = Array.isArray(summary.waitingOn) ? (summary.waitingOn as StoredCall[]) : [];
        if (summary.status !== 'waiting' || !waiting.length) {
          throw new UserError(`Run ${runId} has no tool call waiting for approval (its status is ${summary.status}), so nothing was decided.`);
        }
        // Checked against the calls on record first: a refused decision changes nothing in the log.
        const view = (call: StoredCall) => ({ id: call.callId, name: call.tool, ...(call.argsHash === undefined ? {} : { argsHash: call.argsHash }), ...(call.actor === undefined ? {} : { path: call.actor }) });
        decisionTarget(runId, waiting, view, decision.callId, { hash: decision.argsHash, ...(decision.actor === undefined ? {} : { actor: decision.actor }) }, () =>
          `Run ${runId}: no tool call ${decision.callId} is waiting for approval, so nothing was decided. Calls waiting: ${waiting.map((call) => `${call.callId} (${call.tool})`).join(', ')}.`,
        );
        // A run submitted to the workers is continued by one of them: the decision is queued for it.
        if (await isWorkersRun(this.#store, runId)) {
          await decideQueued(this.#store as PostgresStore, runId, [decision]);
          return;
        }
        this.#refuseWhenClosing();
      }
      const run = live ?? (await this.#resumed(runId));
      const options = { by: decision.by, argsHash: decision.argsHash, ...(decision.actor === undefined ? {} : { actor: decision.actor }) };
      if (decision.kind === 'approve') run.approve(decision.callId, options);
      else run.reject(decision.callId, decision.reason, options);
    });
  }

  async #resumed(runId: string): Promise<Run> {
    const header = await this.#store.header(runId);
    const run = await resumeRun(this.#agent(header.agent.id).agent, runId, { ...this.#optionsFor(header.labels ?? {}), store: this.#store });
    void this.#hold(run);
    return run;
  }

  async cancel(runId: string, reason: string): Promise<void> {
    await this.#serially(runId, async () => {
      let run = await this.#live(runId);
      if (!run) {
        const summary = await this.#store.summary(runId);
        if (FINAL.has(summary.status)) throw new UserError(`Run ${runId} already ended (${summary.status}); there is nothing to cancel.`);
        if (summary.status === 'running') {
          throw new UserError(`Run ${runId} is running in another process (${summary.owner ? `${summary.owner.host}, pid ${summary.owner.pid}` : 'unknown'}): cancel it there.`);
        }
        run = await this.#resumed(runId);
      }
      run.cancel(reason);
      await run.result.catch(() => undefined);
    });
  }

  async close(graceMs: number): Promise<void> {
    this.#closing = true;
    const held = [...this.#runs.values()];
    const ended = Promise.allSettled(held.map((run) => run.result));
    let timer: NodeJS.Timeout | undefined;
    const late = await Promise.race([ended.then(() => false), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), graceMs)))]);
    clearTimeout(timer);
    if (late) for (const run of this.#runs.values()) run.cancel(`The service stopped and the run did not finish within ${graceMs} ms.`);
    await ended;
  }
}
