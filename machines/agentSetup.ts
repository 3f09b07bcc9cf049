import { assign, fromPromise, setup } from 'xstate';
import type { AgentContext, AgentInput, AgentOutput, CallState, CompactionOutcome, FitnessResult, ModelTurn, StopReason, ToolOutcome } from '../src/protocol/agent.ts';
import type { Usage } from '../src/protocol/messages.ts';

/** Events the agent machine accepts from outside and from the runtime's actors. */
export type AgentEvent =
  | { type: 'APPROVE'; callId: string; by?: string; argsHash?: string; arguments?: string; always?: boolean }
  | { type: 'REJECT'; callId: string; reason: string; by?: string; argsHash?: string }
  | { type: 'APPROVAL_EXPIRED' }
  | { type: 'TOOL_STARTED'; callId: string }
  | { type: 'TOOL_FINISHED'; callId: string; outcome: ToolOutcome }
  | { type: 'TOOL_INTERRUPTED'; callId: string; note: string }
  | { type: 'DEADLINE' }
  | { type: 'CANCEL'; reason?: string };

const lastAssistant = (context: AgentContext) => {
  for (let i = context.messages.length - 1; i >= 0; i--) {
    const message = context.messages[i]!;
    if (message.role === 'assistant') return message;
  }
  return undefined;
};

/**
 * Two usages added up. Cached and reasoning counts appear once a turn reports some: a run whose
 * turns report none (every run recorded before they were counted) keeps the usage, and the patches,
 * it always had, so that replay still reproduces it.
 */
const addUsage = (total: Usage, turn: Usage): Usage => {
  const sum: Usage = { inputTokens: total.inputTokens + turn.inputTokens, outputTokens: total.outputTokens + turn.outputTokens };
  if (total.cachedInputTokens !== undefined || turn.cachedInputTokens !== undefined) sum.cachedInputTokens = (total.cachedInputTokens ?? 0) + (turn.cachedInputTokens ?? 0);
  if (total.reasoningTokens !== undefined || turn.reasoningTokens !== undefined) sum.reasoningTokens = (total.reasoningTokens ?? 0) + (turn.reasoningTokens ?? 0);
  return sum;
};

const hasToolCalls = (context: AgentContext) => (context.turn?.calls.length ?? 0) > 0;
const tokensUsed = (context: AgentContext) => context.usage.inputTokens + context.usage.outputTokens;
const overTokenBudget = (context: AgentContext) =>
  context.limits.maxTokens !== undefined && tokensUsed(context) >= context.limits.maxTokens;
const overCostBudget = (context: AgentContext) =>
  context.limits.maxCostUsd !== undefined && context.costUsd >= context.limits.maxCostUsd;

const setStop = (reason: StopReason, detail: (context: AgentContext) => string) =>
  assign<AgentContext, AgentEvent, undefined, AgentEvent, never>({
    stop: ({ context }) => ({ reason, detail: detail(context) }),
  });

/** An error as the context keeps it (JSON): its name and message. */
const errorOf = (error: unknown): { name: string; message: string } =>
  typeof error === 'object' && error !== null && 'message' in error
    ? { name: String((error as { name?: unknown }).name ?? 'Error'), message: String(error.message) }
    : { name: 'Error', message: String(error) };

/**
 * Why the run failed, in the words of the error: the runtime's model and tool actors throw errors that
 * say what failed (the provider's status and message, the call that never finished); any other
 * actor's error is named after the actor.
 */
const failureDetail = (actor: string | undefined, message: string): string => {
  const text = message.trim();
  if (actor === 'callModel' || actor === 'executeTools') return text || `The ${actor === 'callModel' ? 'model call' : 'tool run'} failed without a message.`;
  const what =
    actor === 'evaluateFitness' ? 'Evaluating fitness targets' : actor === 'compactContext' ? 'Compacting the context' : actor ? `Actor "${actor}"` : 'The agent';
  return `${what} failed: ${text || 'no message given'}`;
};

const updateCall = (context: AgentContext, callId: string, patch: Partial<CallState>): AgentContext['turn'] =>
  context.turn && {
    ...context.turn,
    calls: context.turn.calls.map((call) => (call.id === callId ? { ...call, ...patch } : call)),
  };

const isAwaiting = (context: AgentContext, callId: string) =>
  context.turn?.calls.some((call) => call.id === callId && call.status === 'awaiting') ?? false;

/**
 * The agent loop: assemble the model input, infer, route the reply, dispatch tool calls (validate,
 * apply policy), wait for approvals, execute, fold results into the history, and check termination.
 * A pure definition: `callModel`, `executeTools`, `dispatchCalls`, `assemble` and `stopWhen` are
 * supplied by the runtime with `.provide()`.
 */
export const agentSetup = setup({
  types: {
    context: {} as AgentContext,
    input: {} as AgentInput,
    events: {} as AgentEvent,
    output: {} as AgentOutput,
  },
  actors: {
    callModel: fromPromise<ModelTurn, { step: number }>(async () => {
      throw new Error('callModel is not provided: run the machine through the Statecraft runtime');
    }),
    executeTools: fromPromise<void, { step: number }>(async () => {
      throw new Error('executeTools is not provided: run the machine through the Statecraft runtime');
    }),
    evaluateFitness: fromPromise<FitnessResult[], { step: number }>(async () => []),
    compactContext: fromPromise<CompactionOutcome, { step: number }>(async () => {
      throw new Error('compactContext is not provided: run the machine through the Statecraft runtime');
    }),
  },
  actions: {
    assemble: () => {},
    dispatchCalls: assign({
      turn: ({ context }) =>
        context.turn && {
          ...context.turn,
          calls: context.turn.calls.map((call) => ({
            ...call,
            status: 'invalid' as const,
            note: 'No tool dispatcher is configured for this agent.',
          })),
        },
    }),
    recordModelTurn: assign(({ context, event }) => {
      const turn = (event as unknown as { output: ModelTurn }).output;
      const calls = turn.message.toolCalls ?? [];
      return {
        messages: [...context.messages, turn.message],
        step: context.step + 1,
        usage: addUsage(context.usage, turn.usage),
        costUsd: context.costUsd + turn.costUsd,
        // Only an agent that compacts its context is given a window: other runs keep the patches they always had.
        ...(turn.window ? { window: { tokens: turn.window.tokens, messages: context.messages.length, compactAt: turn.window.compactAt } } : {}),
        turn: {
          step: context.step + 1,
          startedAt: turn.at,
          calls: calls.map((call): CallState => {
            const problem = turn.problems?.[call.id];
            return problem
              ? { id: call.id, name: call.name, status: 'invalid', note: problem }
              : { id: call.id, name: call.name, status: 'ready' };
          }),
        },
      };
    }),
    decide: assign(({ context, event }) => {
      if (event.type === 'APPROVE') {
        const call = context.turn?.calls.find((c) => c.id === event.callId);
        const always = event.always && call && !context.alwaysApprove.includes(call.name);
        return {
          turn: updateCall(context, event.callId, {
            status: 'approved',
            decidedBy: event.by ?? 'user',
            ...(event.arguments === undefined ? {} : { arguments: event.arguments }),
          }),
          ...(always ? { alwaysApprove: [...context.alwaysApprove, call.name] } : {}),
        };
      }
      if (event.type === 'REJECT') {
        return { turn: updateCall(context, event.callId, { status: 'rejected', note: event.reason, decidedBy: event.by ?? 'user' }) };
      }
      if (event.type === 'APPROVAL_EXPIRED' && context.turn) {
        const approve = context.approval.onTimeout === 'approve';
        return {
          turn: {
            ...context.turn,
            calls: context.turn.calls.map((call): CallState =>
              call.status !== 'awaiting'
                ? call
                : approve
                  ? { ...call, status: 'approved', decidedBy: 'approval deadline' }
                  : {
                      ...call,
                      status: 'rejected',
                      decidedBy: 'approval deadline',
                      note: `No one approved tool call ${call.id} (${call.name}) before the approval deadline, so it was not run.`,
                    },
            ),
          },
        };
      }
      return {};
    }),
    trackTool: assign(({ context, event }) => {
      if (event.type === 'TOOL_STARTED') return { turn: updateCall(context, event.callId, { status: 'running' }) };
      if (event.type === 'TOOL_INTERRUPTED') {
        return { turn: updateCall(context, event.callId, { status: 'awaiting', note: event.note }) };
      }
      if (event.type === 'TOOL_FINISHED') {
        return { turn: updateCall(context, event.callId, { status: 'done', outcome: event.outcome }) };
      }
      return {};
    }),
    appendToolResults: assign(({ context }) => ({
      messages: [
        ...context.messages,
        ...(context.turn?.calls ?? []).map((call) => ({
          role: 'tool' as const,
          toolCallId: call.id,
          name: call.name,
          content:
            (call.arguments !== undefined && call.outcome ? `(The approver changed the arguments to ${call.arguments}.)\n` : '') +
            (call.outcome?.content ?? call.note ?? `Tool call ${call.id} ended without a result (status ${call.status}).`),
        })),
        ...Object.values(context.fitness ?? {})
          .filter((result) => result.step === context.step && !result.ok && result.onBreach === 'tell-model')
          .map((result) => ({
            role: 'user' as const,
            content: `Health check "${result.name}" failed after your last changes: ${result.detail}. Fix this before you go on.`,
          })),
      ],
      // The turn stays until the next model reply replaces it, so its decisions (policy, hash, approver) are on record.
    })),
    applyCompaction: assign(({ context, event }) => {
      const outcome = (event as unknown as { output: CompactionOutcome }).output;
      const messages = outcome.messages ?? context.messages;
      const elided = outcome.elided?.length
        ? { ...context.elided, ...Object.fromEntries(outcome.elided.map(({ id, index }) => [id, context.messages[index]?.content ?? ''])) }
        : context.elided;
      return {
        messages,
        ...(elided ? { elided } : {}),
        ...(context.window ? { window: { ...context.window, tokens: outcome.after.tokens, messages: messages.length, compactedAt: context.step } } : {}),
        ...(outcome.usage ? { usage: addUsage(context.usage, outcome.usage), costUsd: context.costUsd + (outcome.costUsd ?? 0) } : {}),
      };
    }),
    setOutput: assign({ output: ({ context }) => lastAssistant(context)?.content ?? '' }),
    stopFinalAnswer: setStop('final_answer', () => 'The model answered without calling a tool.'),
    stopPredicate: setStop('stop_when', () => 'The stopWhen predicate returned true.'),
    stopStepLimit: setStop('step_limit', (c) => `Step limit reached: ${c.step} of ${c.limits.maxSteps} model turns.`),
    stopTokenBudget: setStop(
      'token_budget',
      (c) => `Token budget reached: ${tokensUsed(c)} tokens used of ${c.limits.maxTokens}.`,
    ),
    stopCostBudget: setStop(
      'cost_budget',
      (c) => `Cost budget reached: $${c.costUsd.toFixed(6)} spent of $${c.limits.maxCostUsd}.`,
    ),
    recordFitness: assign(({ context, event }) => {
      const results = (event as unknown as { output: FitnessResult[] }).output;
      return { fitness: { ...context.fitness, ...Object.fromEntries(results.map((result) => [result.name, result])) } };
    }),
    stopFitness: assign({
      stop: ({ event }) => {
        const breached = (event as unknown as { output: FitnessResult[] }).output.filter((r) => !r.ok && r.onBreach === 'halt');
        return {
          reason: 'fitness' as const,
          detail: `Fitness target ${breached.map((r) => `"${r.name}" failed (${r.detail})`).join('; ')}.`,
        };
      },
    }),
    stopDeadline: setStop('deadline', (c) => `Deadline passed: ${new Date(c.limits.deadlineAt ?? 0).toISOString()}.`),
    stopCancelled: assign({
      stop: ({ event }) => ({
        reason: 'cancelled' as const,
        detail: event.type === 'CANCEL' && event.reason ? event.reason : 'Cancelled from outside.',
      }),
    }),
    setError: assign(({ event }) => {
      const error = errorOf((event as { error?: unknown }).error);
      const actor = event.type.startsWith('xstate.error.actor.') ? event.type.slice('xstate.error.actor.'.length) : undefined;
      return { error, stop: { reason: 'error' as const, detail: failureDetail(actor, error.message) } };
    }),
  },
  guards: {
    hasToolCalls: ({ context }) => hasToolCalls(context),
    overTokenBudget: ({ context }) => overTokenBudget(context),
    overCostBudget: ({ context }) => overCostBudget(context),
    stepLimitReached: ({ context }) => context.step >= context.limits.maxSteps,
    finalAnswer: ({ context }) => (lastAssistant(context)?.toolCalls?.length ?? 0) === 0,
    stopWhen: () => false,
    inputExceedsCompactionShare: () => false,
    shouldAssess: () => false,
    fitnessHalts: ({ event }) =>
      ((event as unknown as { output?: FitnessResult[] }).output ?? []).some((result) => !result.ok && result.onBreach === 'halt'),
    anyAwaiting: ({ context }) => context.turn?.calls.some((call) => call.status === 'awaiting') ?? false,
    anyRunnable: ({ context }) =>
      context.turn?.calls.some((call) => call.status === 'ready' || call.status === 'approved' || call.status === 'running') ??
      false,
    isAwaiting: ({ context, event }) =>
      (event.type === 'APPROVE' || event.type === 'REJECT') &&
      isAwaiting(context, event.callId) &&
      (event.argsHash === undefined || context.turn?.calls.find((call) => call.id === event.callId)?.argsHash === event.argsHash),
  },
});
