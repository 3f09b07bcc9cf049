import { agentMachine } from '../../machines/agentMachine.ts';
import { UserError } from '../errors.ts';
import { stateAt } from '../log/reads/reads.ts';
import type { RunStore } from '../log/stores/runStore.ts';
import type { AgentContext } from '../protocol/agent.ts';
import type { ModelPort } from '../protocol/model.ts';
import type { Agent } from './defineAgent.ts';
import { assertPriced } from './defineAgent.ts';
import { machineHash } from './machineHash.ts';
import { runMachineEntries } from './runMachines.ts';
import { keepMachines } from '../log/stores/machineGraphs.ts';
import { assertNotInUse } from '../recorder/owner.ts';
import { submittedToWorkers } from './workersRun.ts';
import { resolveModel } from './resolveModel.ts';
import { Run } from './Run.ts';
import { identityOf } from './memoryOptions.ts';
import { RunTelemetry } from '../telemetry/RunTelemetry.ts';
import type { RunOptions } from './runOptions.ts';
import type { RunEvent } from './runEvents.ts';

export interface ResumeOptions {
  store: RunStore;
  /** The model to continue with; defaults to the agent's. A different model than the run's is recorded as a swap. */
  model?: ModelPort | string;
  signal?: AbortSignal;
  onEvent?: (event: RunEvent) => void;
  /** See `RunOptions.beforeModelCall`. */
  beforeModelCall?: RunOptions['beforeModelCall'];
  /** See `RunOptions.credentials`. */
  credentials?: RunOptions['credentials'];
  /** See `RunOptions.modelLimits`. */
  modelLimits?: RunOptions['modelLimits'];
  /** See `RunOptions.holds`. */
  holds?: RunOptions['holds'];
  /** Also send XState's inspection events here, redacted as the log is; see `RunOptions.inspect`. */
  inspect?: RunOptions['inspect'];
  /**
   * Continue the run even though another process still claims it (its status is running and it
   * renewed its claim within 30 s). Without it, such a run is refused with RunInUseError. Use it when
   * that process is gone, on another machine, or frozen. If it is in fact still running, the first of
   * the two to write next wins and the other fails; a call the other had started counts as
   * interrupted here (a tool declared idempotent runs again).
   */
  takeOver?: boolean;
  /** See `RunOptions.writeWithinMs`. */
  writeWithinMs?: number;
  /** See `RunOptions.keyframes`. */
  keyframes?: RunOptions['keyframes'];
  /** See `RunOptions.telemetry`: the resumed run's spans continue the trace its start recorded. */
  telemetry?: RunOptions['telemetry'];
}

const FINAL = new Set(['done', 'failed', 'halted', 'cancelled']);

/** Whether a persisted snapshot holds an actor reference (`{ xstate$$type, id }`) anywhere. */
function holdsActorRef(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  if (Array.isArray(value)) {
    // An index loop: for...of makes an iterator per array, hundreds of kilobytes over a long run's history.
    for (let i = 0; i < value.length; i++) if (holdsActorRef(value[i])) return true;
    return false;
  }
  if ('xstate$$type' in value) return true;
  for (const key in value) if (holdsActorRef((value as Record<string, unknown>)[key])) return true;
  return false;
}

/**
 * What the run's agent was doing when its last record was written, which the resumed run does again:
 * the model call of a step (asked again), tool calls that started and never finished (handled as
 * each tool declares).
 */
function inFlight(state: unknown): { repeats?: { modelCallOfStep?: number; toolCalls?: string[] } } {
  const { children, context } = (state ?? {}) as { children?: Record<string, { src?: unknown } | undefined>; context?: Partial<AgentContext> };
  const repeats: { modelCallOfStep?: number; toolCalls?: string[] } = {};
  // The model call is the invoked callModel actor, in whichever state invokes it (infer, or a state a user added).
  const calling = Object.values(children ?? {}).some((child) => child?.src === 'callModel');
  if (calling && typeof context?.step === 'number') repeats.modelCallOfStep = context.step + 1;
  const running = (context?.turn?.calls ?? []).filter((call) => call.status === 'running').map((call) => call.id);
  if (running.length) repeats.toolCalls = running;
  return Object.keys(repeats).length ? { repeats } : {};
}

/**
 * Continue a recorded run from its last record, in this process: after a pause, a crash or a fork.
 * A model call that was in flight is asked again; tool calls that started and never finished are
 * handled as each tool declares (`onResume`).
 * @example
 * const run = await resumeRun(agent, runId, { store: openStore() });
 * const result = await run.result;
 */
export async function resumeRun(agent: Agent, runId: string, options: ResumeOptions): Promise<Run> {
  const { store } = options;
  const [header, summary] = await Promise.all([store.header(runId), store.summary(runId)]);
  if (header.agent.id !== agent.name) {
    throw new UserError(
      `Run ${runId} was recorded by agent "${header.agent.id}", not "${agent.name}": resume it with the agent that started it.`,
    );
  }
  if (FINAL.has(summary.status)) {
    throw new UserError(
      `Run ${runId} already ended (${summary.status}${summary.reason ? `: ${summary.reason}` : ''}); there is nothing to resume. ` +
        `Fork it to continue from an earlier step, the one before its end for instance: \`npx statecraft fork ${runId} --at ${Math.max(0, summary.lastSeq - 1)}\` ` +
          `(\`npx statecraft history ${runId}\` lists its records).`,
    );
  }
  assertNotInUse(summary, options.takeOver);
  if (await submittedToWorkers(store, runId)) {
    // Two processes running one run could both start a side effect: only the worker holding its lease may.
    throw new UserError(
      `Run ${runId} was submitted to the workers, so a worker continues it and this process may not: ` +
        `decide its waiting calls with \`npx statecraft approve ${runId}\` or \`reject\` (decideQueued() in code), which queue its continuation, ` +
        `and start a worker if none runs (\`npx statecraft worker --store <url> --agents <module>\`).`,
    );
  }
  // stateAt's result is shared with the states the store keeps, and XState's restore writes live actors
  // over the actor references in a context in place: copy it only when it holds one (a copy of a long
  // run's state costs milliseconds). The built-in agent machine keeps none in its context, so its
  // states are not even searched.
  const state = await stateAt(store, runId, summary.lastSeq);
  const snapshot = agent.machine !== agentMachine && holdsActorRef(state) ? structuredClone(state) : state;
  const model = resolveModel(options.model ?? agent.model ?? header.model.model);
  assertPriced(agent, model.info.model);
  const notes: ({ type: string } & Record<string, unknown>)[] = [
    { type: 'statecraft.resumed', afterSeq: summary.lastSeq, pid: process.pid, ...inFlight(state) },
  ];
  const hash = machineHash(agent.machine);
  if (hash !== header.machine.hash) {
    notes.push({ type: 'statecraft.machine_changed', recorded: header.machine.hash, now: hash });
  } else {
    // A run recorded before machine graphs were kept gets them now, so that it can be drawn without its code.
    await keepMachines(store, runMachineEntries(agent));
  }
  if (JSON.stringify(model.info) !== JSON.stringify(header.model)) {
    notes.push({ type: 'statecraft.model_swap', from: header.model, to: model.info });
  }
  const telemetry = RunTelemetry.open({ runId, agent: { name: agent.name, version: agent.version }, model: model.info, resumedFrom: { traceparent: header.traceparent } }, options.telemetry);
  const identity = identityOf(header.labels);
  return new Run(agent, model, runId, { kind: 'restore', snapshot, lastSeq: summary.lastSeq, notes, telemetry }, { ...options, ...(identity ? { identity } : {}) });
}
