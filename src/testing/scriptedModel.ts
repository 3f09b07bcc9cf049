import { delay } from '../delay.ts';
import { CancelledError, ModelBehaviorError, ModelCallError } from '../errors.ts';
import type { AssistantMessage, Message } from '../protocol/messages.ts';
import type { ModelInfo, ModelPort, ModelRequest, ModelResponse } from '../protocol/model.ts';
import { ScriptCursor, estimateTokens, fragments } from './script.ts';
import type { Script, ScriptOptions } from './script.ts';

export interface ScriptedModelOptions extends ScriptOptions {
  /** The model name reported in `info` and in each response (default 'scripted'). */
  model?: string;
}

/** An in-process ModelPort that answers from a script and records every request. */
export type ScriptedModel = ModelPort & {
  readonly calls: ModelRequest[];
  /** Throws when a call did not fit the script or steps remain unconsumed. */
  assertDone(): void;
};

const inputChars = (messages: readonly Message[]): number => {
  let total = 0;
  for (const message of messages) total += message.content?.length ?? 0;
  return total;
};

const wait = async (ms: number, signal: AbortSignal | undefined): Promise<void> => {
  if (!(await delay(ms, signal))) throw new CancelledError('Scripted model call was cancelled by its signal while waiting on a delayed step.');
};

/**
 * Creates a model that answers each call with the next scripted step and fails loudly on any call beyond it.
 * @example
 * const model = scriptedModel([{ toolCalls: [{ name: 'add', arguments: { a: 1, b: 2 } }] }, { content: '3' }]);
 * // ... run the agent with `model` ...
 * model.assertDone();
 */
export function scriptedModel(script: Script, options: ScriptedModelOptions = {}): ScriptedModel {
  const cursor = new ScriptCursor(script, options);
  const calls: ModelRequest[] = [];
  const modelName = options.model ?? 'scripted';
  const info: ModelInfo = { provider: 'scripted', model: modelName, params: {} };

  const cancelled = (): CancelledError =>
    new CancelledError(`Scripted model call #${calls.length} was cancelled by its signal before it answered.`);

  async function complete(request: ModelRequest): Promise<ModelResponse> {
    calls.push(request);
    if (request.signal?.aborted) throw cancelled();
    const step = cursor.next({ messages: request.messages, tools: request.tools });
    if (step.delayMs > 0) await wait(step.delayMs, request.signal);
    if (request.signal?.aborted) throw cancelled();
    if (step.kind === 'error') {
      const retryable = step.status === 408 || step.status === 409 || step.status === 429 || step.status >= 500;
      throw new ModelCallError(`Scripted model call #${calls.length} failed with HTTP ${step.status}: ${step.message}`, {
        status: step.status,
        retryable,
      });
    }
    if (step.kind === 'raw') {
      throw new ModelBehaviorError(
        `Scripted model call #${calls.length}: the step is a raw HTTP response, which only the scripted server can send. ` +
          'Play this script with startScriptedServer and createOpenAIModel, or give the step content or an error.',
      );
    }
    const pieces = fragments(step.content ?? '');
    if (step.resetAfterChunks !== undefined) {
      for (const piece of pieces.slice(0, step.resetAfterChunks)) request.onDelta?.(piece);
      throw new ModelCallError(`Scripted model call #${calls.length}: the connection was reset mid-answer (resetAfterChunks).`, { retryable: true });
    }
    if (request.onDelta) for (const piece of pieces) request.onDelta(piece);
    const message: AssistantMessage = { role: 'assistant', content: step.content };
    if (step.toolCalls.length > 0) message.toolCalls = step.toolCalls;
    const outputChars = (step.content?.length ?? 0) + step.toolCalls.reduce((n, c) => n + c.name.length + c.arguments.length, 0);
    return {
      message,
      usage: {
        inputTokens: step.usage?.inputTokens ?? estimateTokens(inputChars(request.messages)),
        outputTokens: step.usage?.outputTokens ?? estimateTokens(outputChars),
        ...(step.usage?.cachedInputTokens ? { cachedInputTokens: step.usage.cachedInputTokens } : {}),
        ...(step.usage?.reasoningTokens ? { reasoningTokens: step.usage.reasoningTokens } : {}),
      },
      finishReason: step.finishReason,
      model: modelName,
    };
  }

  return { info, calls, complete, assertDone: () => cursor.assertDone() };
}
