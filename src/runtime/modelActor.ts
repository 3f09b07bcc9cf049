import { fromPromise, type AnyActorRef } from 'xstate';
import { UserError } from '../errors.ts';
import { priceFor } from '../model/modelFacts.ts';
import { costOf } from '../model/pricing.ts';
import type { AgentContext, ModelTurn } from '../protocol/agent.ts';
import type { Message } from '../protocol/messages.ts';
import type { ModelPort, ToolSpec } from '../protocol/model.ts';
import type { ContextWindow } from './contextWindow.ts';
import { oneLine } from './decisionEvents.ts';
import { unpricedBudget, type Agent } from './defineAgent.ts';
import { memoryReader, withMemory } from './memoryInput.ts';
import { normalizeCalls } from './normalizeCalls.ts';
import type { RunHooks } from './provideAgent.ts';

/** The context of the agent machine an actor was invoked by. */
export const contextOf = (actor: AnyActorRef | undefined): AgentContext => {
  if (!actor) throw new Error('Agent actors must run inside the agent machine.');
  return (actor.getSnapshot() as { context: AgentContext }).context;
};

/** The error for an agent that compacts its context on a model whose window no source gives. */
export function unknownWindow(agent: Agent, model: string): UserError {
  return new UserError(
    `Agent "${agent.name}" compacts its context at ${agent.compaction!.at} of the window, but the context window of model "${model}" is unknown. ` +
      `Set maxContextTokens on the agent (e.g. maxContextTokens: 32000), or give the model's contextWindow in a price file or the agent's prices.`,
  );
}

/** The tokens of an input sent and the size at which the next is compacted, for an agent that compacts its context. */
async function inputSize(agent: Agent, window: ContextWindow, sent: readonly Message[]): Promise<ModelTurn['window']> {
  const counter = await window.tokenCounter();
  return { tokens: counter.request(sent), compactAt: Math.floor(agent.compaction!.at * window.budget!) };
}

/**
 * The `callModel` actor: the agent's context, fitted to the window, sent to the model port with the
 * agent's tools; the reply, its usage and its price are the actor's output, recorded with its done event.
 */
export function modelActor(agent: Agent, hooks: RunHooks, model: ModelPort, tools: readonly ToolSpec[], window: ContextWindow) {
  const readMemory = memoryReader(agent, hooks);
  return fromPromise<ModelTurn, { step: number }>(async ({ self, signal }) => {
    const context = contextOf(self._parent);
    const step = context.step;
    const requested = priceFor(model.info.model, agent.prices);
    // A budget that cannot be counted is refused before any token is spent: the run fails rather
    // than run on at $0 a turn. Runs check this when they start; this catches a budget that comes
    // with an invoked agent's input, which no start could see.
    if (context.limits.maxCostUsd !== undefined && !requested) throw unpricedBudget(agent.name, context.limits.maxCostUsd, model.info.model);
    if (agent.compaction && window.budget === undefined) throw unknownWindow(agent, model.info.model);
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
    const memory = await readMemory?.(context.messages, signal);
    const messages = await window.fit(memory ? withMemory(context.messages, memory) : context.messages);
    await hooks.beforeModelCall?.({ runId: hooks.runId, step, ...(hooks.scope?.length ? { actor: hooks.scope.join('/') } : {}), model: model.info.model, messages });
    // After the check, so that a refused call takes no place in the endpoint's window.
    const paced = await hooks.modelLimits?.acquire(model.info, messages, signal);
    let response;
    try {
      response = await model.complete({
        messages,
        tools,
        signal,
        ...(paced ? { pacing: paced.pacing } : {}),
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
          durationMs: Math.round(performance.now() - started) - (paced?.waitedMs ?? 0),
          errorType: error instanceof Error ? error.name : 'Error',
          error: oneLine(hooks.redactor.redactString(error instanceof Error ? error.message : String(error))),
        });
      }
      throw error;
    }
    delta(stream.end());
    await paced?.settle(response.usage);
    window.observe(messages, response.usage.inputTokens);
    const { message, problems } = normalizeCalls(response.message, step);
    const sized = agent.compaction ? await inputSize(agent, window, messages) : undefined;
    // The model that answered may differ from the one asked for (a dated snapshot, or a gateway's
    // 'openai/gpt-4o-mini'): priced as the one that answered when the table knows it, else as the one asked for.
    const answeredBy = response.model || model.info.model;
    const price = (response.model ? priceFor(response.model, agent.prices) : undefined) ?? requested;
    const costUsd = price ? costOf(response.usage, price) : null;
    // The call's own time: a wait for the endpoint's limits is told apart, as `waitedMs`.
    const waitedMs = paced?.waitedMs ?? 0;
    const durationMs = Math.round(performance.now() - started) - waitedMs;
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
      ...(waitedMs > 0 ? { waitedMs } : {}),
      ...(hooks.content ? { input: messages, output: message } : {}),
    });
    return {
      message,
      usage: response.usage,
      costUsd: costUsd ?? 0,
      model: response.model,
      at: Date.now(),
      durationMs,
      ...(waitedMs > 0 ? { waitedMs } : {}),
      ...(Object.keys(problems).length ? { problems } : {}),
      ...(sized ? { window: sized } : {}),
      ...(memory && (memory.working || memory.recalled) ? { memory } : {}),
    };
  });
}
