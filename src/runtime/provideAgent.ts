import { assign, fromPromise, type AnyActorRef, type AnyStateMachine } from 'xstate';
import { ToolError } from '../errors.ts';
import { priceFor, costOf } from '../model/pricing.ts';
import type { AgentContext, CallState, ModelTurn } from '../protocol/agent.ts';
import type { AssistantMessage, ToolCall } from '../protocol/messages.ts';
import type { ModelPort } from '../protocol/model.ts';
import { mapWithConcurrency } from '../tools/limitConcurrency.ts';
import { runTool } from '../tools/runTool.ts';
import { assembleMessages } from './assembleMessages.ts';
import type { Agent } from './defineAgent.ts';
import type { RunEvent } from './runEvents.ts';

/** What the machine's named actors and actions need from the run that hosts them. */
export interface RunHooks {
  runId: string;
  model: ModelPort;
  emit(event: RunEvent): void;
  /** Resolves once everything recorded so far is durable; a tool's side effect starts after it. */
  durable(): Promise<void>;
  /** Replay: actors never call the model or a tool; recorded events drive the machine instead. */
  inert?: boolean;
}

const never = fromPromise<never, { step: number }>(() => new Promise<never>(() => {}));

const contextOf = (actor: AnyActorRef | undefined): AgentContext => {
  if (!actor) throw new Error('Agent actors must run inside the agent machine.');
  return (actor.getSnapshot() as { context: AgentContext }).context;
};

/** Give each call a usable, unique id, and say which ones the model got wrong. */
export function normalizeCalls(message: AssistantMessage, step: number) {
  const problems: Record<string, string> = {};
  if (!message.toolCalls?.length) return { message, problems };
  const seen = new Set<string>();
  const toolCalls = message.toolCalls.map((call, index): ToolCall => {
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

const lastAssistant = (context: AgentContext): AssistantMessage => {
  for (let i = context.messages.length - 1; i >= 0; i--) {
    const message = context.messages[i]!;
    if (message.role === 'assistant') return message;
  }
  throw new Error(`Run ${context.runId} has no assistant message to dispatch.`);
};

/** The agent's machine with the runtime's implementations of its named actors, actions and guards. */
export function provideAgent(agent: Agent, hooks: RunHooks): AnyStateMachine {
  const { toolbox } = agent;
  const tools = toolbox.specs();
  const model = typeof agent.model === 'object' ? agent.model : hooks.model;
  const subAgents = Object.fromEntries(
    Object.entries(agent.agents).map(([name, sub]) => [name, provideAgent(sub, hooks)]),
  );
  const inert = hooks.inert ? { callModel: never, executeTools: never } : {};
  return agent.machine.provide({
    actors: {
      ...subAgents,
      callModel: fromPromise<ModelTurn, { step: number }>(async ({ self, signal }) => {
        const context = contextOf(self._parent);
        const step = context.step;
        const response = await model.complete({
          messages: assembleMessages(context.messages, agent.maxContextTokens),
          tools,
          signal,
          onDelta: (text) => hooks.emit({ type: 'delta', runId: hooks.runId, step, text }),
        });
        const { message, problems } = normalizeCalls(response.message, step);
        const price = priceFor(response.model || model.info.model, agent.prices);
        const turn: ModelTurn = {
          message,
          usage: response.usage,
          costUsd: price ? costOf(response.usage, price) : 0,
          model: response.model,
        };
        return Object.keys(problems).length ? { ...turn, problems } : turn;
      }),
      executeTools: fromPromise<void, { step: number }>(async ({ self, signal }) => {
        const parent = self._parent;
        const context = contextOf(parent);
        const calls = new Map(lastAssistant(context).toolCalls?.map((call) => [call.id, call]));
        const runnable = (context.turn?.calls ?? []).filter(
          (call) => call.status === 'ready' || call.status === 'approved' || call.status === 'running',
        );
        await mapWithConcurrency(
          runnable,
          agent.toolConcurrency,
          async (state: CallState) => {
            const call = calls.get(state.id);
            const checked = call && toolbox.validateCall(call);
            if (!checked || !checked.ok) {
              parent!.send({
                type: 'TOOL_FINISHED',
                callId: state.id,
                outcome: { content: checked?.message ?? `No tool call ${state.id} in this turn.`, isError: true },
              });
              return;
            }
            if (state.status === 'running' && checked.tool.onResume !== 'rerun') {
              const what =
                `Tool call ${state.id} (${state.name}) of run ${hooks.runId} started before the process stopped and never finished; ` +
                'whether its side effect happened is unknown.';
              if (checked.tool.onResume === 'fail') {
                throw new ToolError(`${what} The tool declares onResume: 'fail', so the run stops here. Check the side effect by hand, then fork the run from before this call if it should go on.`);
              }
              parent!.send({
                type: 'TOOL_INTERRUPTED',
                callId: state.id,
                note: `${what} Approve to run it again with the same idempotency key, or reject it.`,
              });
              return;
            }
            parent!.send({ type: 'TOOL_STARTED', callId: state.id });
            await hooks.durable();
            hooks.emit({ type: 'tool.start', runId: hooks.runId, callId: state.id, tool: state.name });
            const result = await runTool(checked.tool, checked.args, {
              ctx: {
                runId: hooks.runId,
                callId: state.id,
                idempotencyKey: `${hooks.runId}:${state.id}`,
                toolName: state.name,
              },
              signal,
              defaultTimeoutMs: agent.toolTimeoutMs,
              maxOutputChars: agent.maxToolOutputChars,
            });
            if (signal.aborted) return;
            hooks.emit({
              type: 'tool.end',
              runId: hooks.runId,
              callId: state.id,
              tool: state.name,
              isError: result.isError,
              durationMs: result.durationMs,
            });
            parent!.send({
              type: 'TOOL_FINISHED',
              callId: state.id,
              outcome: {
                content: result.content,
                isError: result.isError,
                truncated: result.truncated,
                attempts: result.attempts,
                durationMs: result.durationMs,
              },
            });
          },
          signal,
        );
      }),
      ...inert,
    },
    actions: {
      dispatchCalls: assign(({ context }: { context: AgentContext }) => {
        if (!context.turn) return {};
        const calls = new Map(lastAssistant(context).toolCalls?.map((call) => [call.id, call]));
        return {
          turn: {
            ...context.turn,
            calls: context.turn.calls.map((state): CallState => {
              if (state.status !== 'ready') return state;
              const checked = toolbox.validateCall(calls.get(state.id)!);
              if (!checked.ok) return { ...state, status: 'invalid', note: checked.message };
              if (checked.tool.needsApproval) return { ...state, status: 'awaiting' };
              return state;
            }),
          },
        };
      }),
    },
    guards: {
      stopWhen: ({ context }: { context: AgentContext }) => agent.stopWhen?.(context) ?? false,
    },
  });
}
