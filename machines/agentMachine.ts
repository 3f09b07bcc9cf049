import { and, not } from 'xstate';
import { statusOf } from '../src/protocol/agent.ts';
import { agentSetup } from './agentSetup.ts';

export { agentSetup, type AgentEvent } from './agentSetup.ts';

/** The shape `agentSetup.createMachine` takes; `agentConfig` is the agent machine's own, to copy and change. */
export type AgentMachineConfig = Parameters<typeof agentSetup.createMachine>[0];

/**
 * The agent loop as a statechart: assemble, compact (when the input nears the context window), infer, route, dispatch, awaitingApproval, execute, update,
 * checkTermination, and the final states done, failed, halted and cancelled. Its actors, actions and
 * guards are the named ones of `agentSetup`, which the runtime supplies with `.provide()`.
 */
export const agentMachine = agentSetup.createMachine({
  id: 'agent',
  context: ({ input }) => ({
    runId: input.runId,
    messages: [
      ...(input.instructions ? [{ role: 'system' as const, content: input.instructions }] : []),
      ...(input.history ?? []),
      ...(input.input !== undefined ? [{ role: 'user' as const, content: input.input }] : []),
    ],
    step: 0,
    usage: { inputTokens: 0, outputTokens: 0 },
    costUsd: 0,
    limits: input.limits,
    approval: input.approval ?? { onTimeout: 'reject' },
    alwaysApprove: [],
    turn: null,
    output: null,
    stop: null,
    error: null,
    // A run that starts from a history may need compacting before its first request (see startingWindow).
    ...(input.window ? { window: input.window } : {}),
  }),
  initial: 'assemble',
  on: {
    CANCEL: { target: '.cancelled', actions: 'stopCancelled' },
    DEADLINE: { target: '.halted', actions: 'stopDeadline' },
  },
  states: {
    assemble: {
      entry: 'assemble',
      always: [
        { guard: 'overTokenBudget', target: 'halted', actions: 'stopTokenBudget' },
        { guard: 'overCostBudget', target: 'halted', actions: 'stopCostBudget' },
        { guard: 'inputExceedsCompactionShare', target: 'compact' },
        { target: 'infer' },
      ],
    },
    compact: {
      tags: ['busy'],
      meta: { description: "Shrink the context with the agent's compaction strategy before the next model call" },
      invoke: {
        id: 'compactContext',
        src: 'compactContext',
        input: ({ context }) => ({ step: context.step }),
        onDone: { target: 'assemble', actions: 'applyCompaction' },
        onError: { target: 'failed', actions: 'setError' },
      },
    },
    infer: {
      tags: ['busy'],
      invoke: {
        id: 'callModel',
        src: 'callModel',
        input: ({ context }) => ({ step: context.step }),
        onDone: {
          target: 'route',
          actions: 'recordModelTurn',
        },
        onError: { target: 'failed', actions: 'setError' },
      },
    },
    route: {
      always: [
        { guard: 'overTokenBudget', target: 'halted', actions: 'stopTokenBudget' },
        { guard: 'overCostBudget', target: 'halted', actions: 'stopCostBudget' },
        { guard: 'hasToolCalls', target: 'dispatch' },
        { target: 'checkTermination' },
      ],
    },
    dispatch: {
      entry: 'dispatchCalls',
      always: [
        { guard: 'anyAwaiting', target: 'awaitingApproval' },
        { guard: 'anyRunnable', target: 'execute' },
        { target: 'update' },
      ],
    },
    awaitingApproval: {
      tags: ['waiting', 'checkpoint'],
      meta: { waitingFor: 'approval' },
      on: {
        APPROVE: {
          guard: 'isAwaiting',
          actions: 'decide',
        },
        REJECT: {
          guard: 'isAwaiting',
          actions: 'decide',
        },
        APPROVAL_EXPIRED: { actions: 'decide' },
      },
      always: [
        { guard: and([not('anyAwaiting'), 'anyRunnable']), target: 'execute' },
        { guard: not('anyAwaiting'), target: 'update' },
      ],
    },
    execute: {
      tags: ['busy'],
      invoke: {
        id: 'executeTools',
        src: 'executeTools',
        input: ({ context }) => ({ step: context.step }),
        onDone: [
          { guard: 'anyAwaiting', target: 'awaitingApproval' },
          { guard: 'shouldAssess', target: 'assess' },
          { target: 'update' },
        ],
        onError: { target: 'failed', actions: 'setError' },
      },
      on: {
        TOOL_STARTED: { actions: 'trackTool' },
        TOOL_INTERRUPTED: { actions: 'trackTool' },
        TOOL_FINISHED: { actions: 'trackTool' },
      },
    },
    assess: {
      tags: ['busy'],
      meta: { description: 'Evaluate fitness targets after the turn changed something' },
      invoke: {
        id: 'evaluateFitness',
        src: 'evaluateFitness',
        input: ({ context }) => ({ step: context.step }),
        onDone: [
          { guard: 'fitnessHalts', target: 'halted', actions: ['recordFitness', 'appendToolResults', 'stopFitness'] },
          { target: 'update', actions: 'recordFitness' },
        ],
        onError: { target: 'failed', actions: 'setError' },
      },
    },
    update: {
      entry: 'appendToolResults',
      always: 'checkTermination',
    },
    checkTermination: {
      always: [
        { guard: 'finalAnswer', target: 'done', actions: ['setOutput', 'stopFinalAnswer'] },
        { guard: 'stopWhen', target: 'done', actions: ['setOutput', 'stopPredicate'] },
        { guard: 'overTokenBudget', target: 'halted', actions: 'stopTokenBudget' },
        { guard: 'overCostBudget', target: 'halted', actions: 'stopCostBudget' },
        { guard: 'stepLimitReached', target: 'halted', actions: 'stopStepLimit' },
        { target: 'assemble' },
      ],
    },
    done: { type: 'final', tags: ['final'] },
    failed: { type: 'final', tags: ['final'] },
    halted: { type: 'final', tags: ['final'] },
    cancelled: { type: 'final', tags: ['final'] },
  },
  output: ({ context }) => ({
    status: statusOf(context.stop?.reason),
    reason: context.stop?.reason ?? 'error',
    detail: context.stop?.detail ?? '',
    output: context.output,
    error: context.error,
    steps: context.step,
    usage: context.usage,
    costUsd: context.costUsd,
  }),
});

/** The agent machine's definition, typed for reuse: spread it, change states, and build with `agentSetup`. */
export const agentConfig = agentMachine.config as unknown as AgentMachineConfig;
