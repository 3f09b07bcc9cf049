import { fromPromise } from 'xstate';
import { priceFor } from '../../model/modelFacts.ts';
import { costOf } from '../../model/pricing.ts';
import type { CompactionOutcome } from '../../protocol/agent.ts';
import type { Message, Usage } from '../../protocol/messages.ts';
import type { ModelPort } from '../../protocol/model.ts';
import type { ContextWindow } from '../contextWindow.ts';
import { oneLine } from '../decisionEvents.ts';
import type { Agent } from '../defineAgent.ts';
import { contextOf, unknownWindow } from '../modelActor.ts';
import type { RunHooks } from '../provideAgent.ts';
import { checkStep } from './checkStep.ts';
import { pinnedIndices } from './turns.ts';

const sum = (a: Usage | undefined, b: Usage): Usage => ({ inputTokens: (a?.inputTokens ?? 0) + b.inputTokens, outputTokens: (a?.outputTokens ?? 0) + b.outputTokens });

/**
 * The `compactContext` actor: the agent's strategies applied in order to the context's messages until
 * they are under the target share of the window, each result checked (pinned messages kept, no call
 * parted from its result). Its output, recorded with its done event, is what replay applies again.
 */
export function compactActor(agent: Agent, hooks: RunHooks, model: ModelPort, window: ContextWindow) {
  return fromPromise<CompactionOutcome, { step: number }>(async ({ self, signal }) => {
    const context = contextOf(self._parent);
    const settings = agent.compaction;
    if (!settings) throw new Error(`Agent "${agent.name}" has no compaction setting, yet its machine entered a compaction state.`);
    if (window.budget === undefined) throw unknownWindow(agent, model.info.model);
    const counter = await window.tokenCounter();
    const step = context.step;
    const target = Math.floor(settings.target * window.budget);
    const before = { messages: context.messages.length, tokens: counter.request(context.messages) };
    const answers: { model?: string; usage?: Usage; costUsd: number; durationMs: number } = { costUsd: 0, durationMs: 0 };

    const budget = window.budget;
    const ask = async ({ instructions, text }: { instructions: string; text: string }): Promise<string> => {
      let messages: Message[] = [
        { role: 'system', content: instructions },
        { role: 'user', content: text },
      ];
      // The request itself must fit the window: a text too long loses its middle, where the least is lost.
      for (let tokens = counter.request(messages); tokens > budget && text.length > 200; tokens = counter.request(messages)) {
        const keep = Math.floor((text.length * budget * 0.9) / tokens / 2);
        text = `${text.slice(0, keep)}\n[... ${text.length - 2 * keep} characters left out to fit the context window ...]\n${text.slice(-keep)}`;
        messages = [messages[0]!, { role: 'user', content: text }];
      }
      await hooks.checkpoint?.();
      await hooks.durable();
      if (hooks.holds?.() === false) await new Promise<never>(() => {});
      await hooks.beforeModelCall?.({ runId: hooks.runId, step, ...(hooks.scope?.length ? { actor: hooks.scope.join('/') } : {}), model: model.info.model, messages });
      const started = performance.now();
      const paced = await hooks.modelLimits?.acquire(model.info, messages, signal);
      let response;
      try {
        response = await model.complete({ messages, tools: [], signal, ...(paced ? { pacing: paced.pacing } : {}) });
      } catch (error) {
        if (!signal.aborted) {
          hooks.emit({
            type: 'model.failed', runId: hooks.runId, step, requestModel: model.info.model, provider: model.info.provider,
            durationMs: Math.round(performance.now() - started), errorType: error instanceof Error ? error.name : 'Error',
            error: oneLine(hooks.redactor.redactString(error instanceof Error ? error.message : String(error))),
          });
        }
        throw error;
      }
      await paced?.settle(response.usage);
      const durationMs = Math.round(performance.now() - started) - (paced?.waitedMs ?? 0);
      const price = (response.model ? priceFor(response.model, agent.prices) : undefined) ?? priceFor(model.info.model, agent.prices);
      const costUsd = price ? costOf(response.usage, price) : null;
      answers.model = response.model || model.info.model;
      answers.usage = sum(answers.usage, response.usage);
      answers.costUsd += costUsd ?? 0;
      answers.durationMs += durationMs;
      hooks.emit({
        type: 'model.answer', runId: hooks.runId, step, model: answers.model, requestModel: model.info.model, provider: model.info.provider,
        usage: response.usage, costUsd, finishReason: response.finishReason, durationMs, purpose: 'compaction',
        ...(hooks.content ? { input: messages, output: response.message } : {}),
      });
      return hooks.redactor.redactString(response.message.content ?? '');
    };

    let messages: readonly Message[] = context.messages;
    let tokens = before.tokens;
    const original = new Map(context.messages.map((message, index) => [message, index]));
    const elided: { id: string; index: number }[] = [];
    const elidedIds = new Set(Object.keys(context.elided ?? {}));
    const applied: string[] = [];
    for (const strategy of settings.strategies) {
      if (tokens <= target) break;
      const pinned = pinnedIndices(messages, settings.pin);
      const result = await strategy.compact({ messages, pinned, tokens, target, step, elidedIds, signal, count: (m) => counter.request(m), ask });
      checkStep(agent, strategy.name, messages, pinned, result);
      for (const { id, index } of result.elided ?? []) {
        const at = original.get(messages[index]!);
        if (at === undefined) throw new Error(`Compaction strategy "${strategy.name}" of agent "${agent.name}" elided message ${index}, which a strategy before it made; elide only messages of the context.`);
        elided.push({ id, index: at });
        elidedIds.add(id);
      }
      if (result.messages.length === messages.length && result.messages.every((message, i) => message === messages[i])) continue;
      messages = result.messages;
      tokens = counter.request(messages);
      applied.push(strategy.name);
    }
    const changed = applied.length > 0;
    return {
      strategy: applied.join(', '),
      before,
      after: { messages: messages.length, tokens },
      ...(changed ? { messages: [...messages] } : {}),
      ...(elided.length ? { elided } : {}),
      ...(answers.usage ? { model: answers.model!, usage: answers.usage, costUsd: answers.costUsd, durationMs: answers.durationMs } : {}),
      at: Date.now(),
    };
  });
}
