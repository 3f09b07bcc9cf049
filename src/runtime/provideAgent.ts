import { assign, createMachine, fromPromise, type AnyActorRef, type AnyStateMachine } from 'xstate';
import type { Redactor } from '../credentials/Redactor.ts';
import { UserError } from '../errors.ts';
import type { Secrets } from '../credentials/Secrets.ts';
import { priceFor } from '../model/modelFacts.ts';
import { costOf } from '../model/pricing.ts';
import { dueTargets, evaluateTarget } from '../fitness/defineFitness.ts';
import type { AgentContext, AgentInput, FitnessResult, Limits, ModelTurn } from '../protocol/agent.ts';
import type { AssistantMessage, ToolCall } from '../protocol/messages.ts';
import type { ModelPort } from '../protocol/model.ts';
import { ContextWindow } from './contextWindow.ts';
import { permittedTools, unpricedBudget, type Agent } from './defineAgent.ts';
import { dispatchCalls } from './dispatchCalls.ts';
import { executeCalls } from './executeCalls.ts';
import { oneLine } from './decisionEvents.ts';
import type { RunEvent } from './runEvents.ts';
import type { BeforeModelCall } from './runOptions.ts';

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
  /** Replay: actors never call the model or a tool; recorded events drive the machine instead. */
  inert?: boolean;
  /** Names of the invoked agents between the run's agent and this one (none for the run's own). */
  scope?: readonly string[];
  /**
   * Events carry content: a model call's input and output messages, a tool call's arguments and
   * result. Set only when a listener asked for it (telemetry that opted in to content).
   */
  content?: boolean;
}

const never = fromPromise<never, { step: number }>(() => new Promise<never>(() => {}));

const toolsRunIn = (context: AgentContext) => [
  ...new Set((context.turn?.calls ?? []).filter((call) => call.status === 'done').map((call) => call.name)),
];

const contextOf = (actor: AnyActorRef | undefined): AgentContext => {
  if (!actor) throw new Error('Agent actors must run inside the agent machine.');
  return (actor.getSnapshot() as { context: AgentContext }).context;
};

/**
 * A call as the port contract types it, whatever the server sent: some send arguments as an object
 * (kept, as its JSON text) or a name or id that is not a string (validation then tells the model).
 */
function asToolCall(call: unknown): ToolCall {
  const given = (typeof call === 'object' && call !== null ? call : {}) as Partial<Record<keyof ToolCall, unknown>>;
  const text = (value: unknown) => (typeof value === 'string' ? value : value === undefined || value === null ? '' : String(value));
  const args = given.arguments;
  return {
    id: text(given.id),
    name: text(given.name),
    arguments: typeof args === 'string' ? args : typeof args === 'object' && args !== null ? JSON.stringify(args) : text(args),
  };
}

/** Give each call a usable, unique id, and say which ones the model got wrong. */
export function normalizeCalls(message: AssistantMessage, step: number) {
  const problems: Record<string, string> = {};
  if (!message.toolCalls?.length) return { message, problems };
  const seen = new Set<string>();
  const toolCalls = message.toolCalls.map((given, index): ToolCall => {
    const call = asToolCall(given);
    let id = call.id;
    if (!id || seen.has(id)) {
      const original = id;
      id = `call_${step}_${index}`;
      problems[id] = original
        ? `Tool call id "${original}" was used twice in one turn; every call needs its own id. This call was not run.`
        : `Tool call #${index + 1} (${call.name || 'no name'}) had no id; every tool call needs a non-empty id. It was not run.`;
    }
    seen.add(id);
    return { ...call, id };
  });
  return { message: { ...message, toolCalls }, problems };
}

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
  const model = typeof agent.model === 'object' ? agent.model : hooks.model;
  const subAgents = Object.fromEntries(
    Object.entries(agent.agents).map(([name, sub]) => [
      name,
      invocable(sub, provideAgent(sub, invokedHooks(hooks, sub, name)), name),
    ]),
  );
  const inert = hooks.inert ? { callModel: never, executeTools: never, evaluateFitness: never } : {};
  const window = new ContextWindow(agent, model.info);
  return agent.machine.provide({
    actors: {
      ...subAgents,
      callModel: fromPromise<ModelTurn, { step: number }>(async ({ self, signal }) => {
        const context = contextOf(self._parent);
        const step = context.step;
        const requested = priceFor(model.info.model, agent.prices);
        // A budget that cannot be counted is refused before any token is spent: the run fails rather
        // than run on at $0 a turn. Runs check this when they start; this catches a budget that comes
        // with an invoked agent's input, which no start could see.
        if (context.limits.maxCostUsd !== undefined && !requested) throw unpricedBudget(agent.name, context.limits.maxCostUsd, model.info.model);
        // The request carries the results of earlier tools: a tool that may not run twice must be on
        // record as finished before the model can see what it did, and a crash from here on leaves
        // the log saying this call was asked, so that resume records asking it again.
        await hooks.checkpoint?.();
        await hooks.durable();
        if (hooks.holds?.() === false) await new Promise<never>(() => {});
        const started = performance.now();
        // Chunks are redacted as the whole answer would be: a secret cut between two chunks is still found.
        const stream = hooks.redactor.stream();
        const delta = (text: string) => {
          if (text !== '') hooks.emit({ type: 'delta', runId: hooks.runId, step, text });
        };
        const messages = await window.fit(context.messages);
        await hooks.beforeModelCall?.({ runId: hooks.runId, step, ...(hooks.scope?.length ? { actor: hooks.scope.join('/') } : {}), model: model.info.model, messages });
        let response;
        try {
          response = await model.complete({
            messages,
            tools,
            signal,
            onDelta: (text) => delta(stream.write(text)),
            onRetry: (retry) => {
              delta(stream.abandon());
              hooks.emit({ type: 'model.retry', runId: hooks.runId, step, ...retry });
            },
          });
        } catch (error) {
          // Cancelled, the run may have ended already: what was held back is dropped unseen.
          const settled = stream.abandon();
          if (!signal.aborted) {
            delta(settled);
            hooks.emit({
              type: 'model.failed',
              runId: hooks.runId,
              step,
              requestModel: model.info.model,
              provider: model.info.provider,
              durationMs: Math.round(performance.now() - started),
              errorType: error instanceof Error ? error.name : 'Error',
              error: oneLine(hooks.redactor.redactString(error instanceof Error ? error.message : String(error))),
            });
          }
          throw error;
        }
        delta(stream.end());
        window.observe(messages, response.usage.inputTokens);
        const { message, problems } = normalizeCalls(response.message, step);
        // The model that answered may differ from the one asked for (a dated snapshot, or a gateway's
        // 'openai/gpt-4o-mini'): priced as the one that answered when the table knows it, else as the one asked for.
        const answeredBy = response.model || model.info.model;
        const price = (response.model ? priceFor(response.model, agent.prices) : undefined) ?? requested;
        const costUsd = price ? costOf(response.usage, price) : null;
        const durationMs = Math.round(performance.now() - started);
        hooks.emit({
          type: 'model.answer',
          runId: hooks.runId,
          step,
          model: answeredBy,
          requestModel: model.info.model,
          provider: model.info.provider,
          usage: response.usage,
          costUsd,
          finishReason: response.finishReason,
          durationMs,
          ...(hooks.content ? { input: messages, output: message } : {}),
        });
        return {
          message,
          usage: response.usage,
          costUsd: costUsd ?? 0,
          model: response.model,
          at: Date.now(),
          durationMs,
          ...(Object.keys(problems).length ? { problems } : {}),
        };
      }),
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
    },
  });
}
