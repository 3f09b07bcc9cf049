import { assign, createMachine, fromPromise, type AnyStateMachine } from 'xstate';
import type { Redactor } from '../credentials/Redactor.ts';
import { UserError } from '../errors.ts';
import type { Secrets } from '../credentials/Secrets.ts';
import { dueTargets, evaluateTarget } from '../fitness/defineFitness.ts';
import type { AgentContext, AgentInput, FitnessResult, Limits, RunIdentity } from '../protocol/agent.ts';
import type { ModelPort } from '../protocol/model.ts';
import { ContextWindow } from './contextWindow.ts';
import { compactActor } from './compaction/compactActor.ts';
import { inputExceedsCompactionShare } from './compaction/compactionDue.ts';
import { permittedTools, type Agent } from './defineAgent.ts';
import { dispatchCalls } from './dispatchCalls.ts';
import { executeCalls } from './executeCalls.ts';
import { contextOf, modelActor } from './modelActor.ts';
import type { RunEvent } from './runEvents.ts';
import type { BeforeModelCall } from './runOptions.ts';
import type { ModelLimits } from '../rateLimits/ModelLimits.ts';

/** What the machine's named actors and actions need from the run that hosts them. */
export interface RunHooks {
  runId: string;
  model: ModelPort;
  emit(event: RunEvent): void;
  /**
   * Resolves once everything recorded so far is durable. Every effect (a model request, a tool, a
   * fitness measure) starts after it: nothing outside the run sees a step the log could lose.
   */
  durable(options?: { sync?: boolean }): Promise<void>;
  /**
   * Called before each model request, ahead of `durable`: a run being drained by its worker stops
   * here (the promise does not settle), where everything before the request is on record and nothing
   * of it has happened yet.
   */
  checkpoint?(): Promise<void>;
  /** See `RunOptions.holds`. */
  holds?(): boolean;
  secrets: Secrets;
  redactor: Redactor;
  /** The run's `beforeModelCall`: may refuse a request before it is sent. */
  beforeModelCall?: BeforeModelCall;
  /** The run's `modelLimits`: each model request waits for its endpoint's shared limits. */
  modelLimits?: ModelLimits;
  /** Replay: actors never call the model or a tool; recorded events drive the machine instead. */
  inert?: boolean;
  /** Names of the invoked agents between the run's agent and this one (none for the run's own). */
  scope?: readonly string[];
  /**
   * Events carry content: a model call's input and output messages, a tool call's arguments and
   * result. Set only when a listener asked for it (telemetry that opted in to content).
   */
  content?: boolean;
  /** Who the run is for; memory is kept and recalled by it. */
  identity?: RunIdentity;
}

export { normalizeCalls } from './normalizeCalls.ts';

const never = fromPromise<never, { step: number }>(() => new Promise<never>(() => {}));

const toolsRunIn = (context: AgentContext) => [
  ...new Set((context.turn?.calls ?? []).filter((call) => call.status === 'done').map((call) => call.name)),
];


const tighter = (a: number | undefined, b: number | undefined) => (a === undefined ? b : b === undefined ? a : Math.min(a, b));

/**
 * An invoked agent's input as it runs: its own instructions and approval settings where the input
 * gives none, and each of its own limits (steps, tokens, cost) where the input's is looser or missing.
 * The machine that invokes it can tighten an agent's limits, never loosen them. (Its `timeoutMs` is not
 * applied here: a deadline made from the clock would not replay; pass `deadlineAt` in the input.)
 */
export function withOwnSettings(agent: Agent, input: AgentInput): AgentInput {
  const given: Partial<Limits> = input.limits ?? {};
  const limits: Limits = { maxSteps: tighter(given.maxSteps, agent.limits.maxSteps)! };
  const maxTokens = tighter(given.maxTokens, agent.limits.maxTokens);
  const maxCostUsd = tighter(given.maxCostUsd, agent.limits.maxCostUsd);
  if (maxTokens !== undefined) limits.maxTokens = maxTokens;
  if (maxCostUsd !== undefined) limits.maxCostUsd = maxCostUsd;
  if (given.deadlineAt !== undefined) limits.deadlineAt = given.deadlineAt;
  const instructions = input.instructions ?? agent.instructions;
  return { ...input, ...(instructions === undefined ? {} : { instructions }), approval: input.approval ?? agent.approval, limits };
}

/** The port an invoked agent calls: its own, the run's switched to the model it names, or the run's. */
function portFor(agent: Agent, runModel: ModelPort): ModelPort {
  if (typeof agent.model === 'object') return agent.model;
  if (agent.model === undefined || agent.model === runModel.info.model) return runModel;
  if (runModel.withModel) return runModel.withModel(agent.model);
  throw new UserError(
    `Agent "${agent.name}" names model "${agent.model}", but the run's model port (${runModel.info.provider}, ${runModel.info.model}) cannot switch models. ` +
      `Give the agent a port of its own (model: createOpenAIModel({ model: '${agent.model}' })), or remove its model name to use the run's model.`,
  );
}

/** What an invoked agent's actors get: its own model port, its place in the run, and events that name it. */
function invokedHooks(hooks: RunHooks, sub: Agent, name: string): RunHooks {
  const scope = [...(hooks.scope ?? []), name];
  const actor = scope.join('/');
  return {
    ...hooks,
    model: portFor(sub, hooks.model),
    scope,
    // The innermost agent names itself; the agents around it pass its events on as they are.
    emit: (event) => hooks.emit(event.actor === undefined ? { ...event, actor } : event),
  };
}

/** Names the invoked agent in the detail of an output that is not `done`, so the run that passes it on says whose it is. */
const naming = (name: string, output: unknown) => (args: unknown) => {
  const out = (output as (args: unknown) => unknown)(args) as { status?: unknown; detail?: unknown } | undefined;
  if (typeof out !== 'object' || out === null || out.status === 'done' || typeof out.detail !== 'string') return out;
  return { ...out, detail: `Agent "${name}": ${out.detail}` };
};

/**
 * An invoked agent's machine, whose context starts from its input with the agent's own settings
 * applied, and whose output, when it did not finish its job, names it (`name` in `agents`).
 */
function invocable(agent: Agent, machine: AnyStateMachine, name: string): AnyStateMachine {
  const config = machine.config as { context?: unknown; output?: unknown };
  const { context, output } = config;
  if (typeof context !== 'function' && typeof output !== 'function') return machine;
  const own =
    typeof context === 'function'
      ? (args: { input?: unknown }) =>
          context({ ...args, input: typeof args.input === 'object' && args.input !== null ? withOwnSettings(agent, args.input as AgentInput) : args.input })
      : context;
  const named = typeof output === 'function' ? naming(name, output) : output;
  return createMachine({ ...machine.config, context: own, output: named } as never, machine.implementations as never) as unknown as AnyStateMachine;
}

/** The agent's machine with the runtime's implementations of its named actors, actions and guards. */
export function provideAgent(agent: Agent, hooks: RunHooks): AnyStateMachine {
  const tools = permittedTools(agent).map((tool) => agent.toolbox.specs().find((spec) => spec.name === tool.name)!);
  // The run's model (or, for an invoked agent, its own port: see invokedHooks), which the run's header records.
  const model = hooks.model;
  const subAgents = Object.fromEntries(
    Object.entries(agent.agents).map(([name, sub]) => [
      name,
      invocable(sub, provideAgent(sub, invokedHooks(hooks, sub, name)), name),
    ]),
  );
  const inert = hooks.inert ? { callModel: never, executeTools: never, evaluateFitness: never, compactContext: never } : {};
  const window = new ContextWindow(agent, model.info);
  return agent.machine.provide({
    actors: {
      ...subAgents,
      callModel: modelActor(agent, hooks, model, tools, window),
      compactContext: compactActor(agent, hooks, model, window),
      executeTools: fromPromise<void, { step: number }>(async ({ self, signal }) =>
        executeCalls(agent, hooks, self._parent!, contextOf(self._parent), signal),
      ),
      evaluateFitness: fromPromise<FitnessResult[], { step: number }>(async ({ self, signal }) => {
        const context = contextOf(self._parent);
        const toolsRun = toolsRunIn(context);
        const due = dueTargets(agent.fitness, toolsRun);
        await hooks.durable();
        const results = await Promise.all(due.map((target) => evaluateTarget(target, { runId: hooks.runId, step: context.step, signal, context, toolsRun })));
        hooks.emit({ type: 'fitness', runId: hooks.runId, results });
        return results;
      }),
      ...inert,
    },
    actions: {
      dispatchCalls: assign(({ context }: { context: AgentContext }) => {
        const decided = dispatchCalls(agent, context);
        // Entered once per turn and never on restore; a replay (inert) tells no listener.
        if (!hooks.inert) {
          for (const call of decided.turn?.calls ?? []) {
            // A call no policy covers ('default') runs without a decision; one a policy allowed is told as decided.
            if (call.status === 'ready' && call.policy?.decision === 'allow' && call.policy.source !== 'default') {
              hooks.emit({ type: 'tool.decided', runId: hooks.runId, callId: call.id, tool: call.name, decision: 'allowed', by: call.policy.source });
            }
            if (call.status !== 'invalid' && call.status !== 'denied') continue;
            hooks.emit({ type: 'tool.refused', runId: hooks.runId, callId: call.id, tool: call.name, status: call.status, reason: hooks.redactor.redactString(call.note ?? call.status) });
          }
        }
        return decided;
      }),
    },
    guards: {
      stopWhen: ({ context }: { context: AgentContext }) => agent.stopWhen?.(context) ?? false,
      shouldAssess: ({ context }: { context: AgentContext }) => dueTargets(agent.fitness, toolsRunIn(context)).length > 0,
      inputExceedsCompactionShare: ({ context }: { context: AgentContext }) => inputExceedsCompactionShare(context),
    },
  });
}
