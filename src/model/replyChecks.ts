// Checks on what an OpenAI-compatible endpoint is configured as and what it answers, kept apart from
// the port so each can be read in one sitting.
import { ModelBehaviorError, UserError } from '../errors.ts';
import type { ModelResponse } from '../protocol/model.ts';
import { AttemptFailure } from './retry.ts';

/** The first characters of a body that is not what the API returns, for the error message. */
export const preview = (value: unknown): string => {
  const text = (typeof value === 'string' ? value : JSON.stringify(value) ?? String(value)).replace(/\s+/g, ' ').trim();
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text);
};

/** A failed attempt for an answer that is not a Chat Completions response: not retried, the base URL is what to check. */
export const notChatCompletions = (baseURL: string, found: string): AttemptFailure =>
  new AttemptFailure('malformed', `the server at ${baseURL} did not return a Chat Completions response: ${found}`);

/** Why a non-streamed body is not a chat completion, or undefined when it has a first choice with a message. */
export function shapeProblem(completion: unknown): string | undefined {
  if (typeof completion !== 'object' || completion === null) {
    return completion === undefined || completion === '' ? 'the body was empty' : `the body was not JSON but text starting ${preview(completion)}`;
  }
  const choices = (completion as { choices?: unknown }).choices;
  if (!Array.isArray(choices)) return `the JSON has no "choices" list (${preview(completion)})`;
  const message = (choices[0] as { message?: unknown } | undefined)?.message;
  if (typeof message !== 'object' || message === null) return `"choices" holds no message (${preview(choices)})`;
  return undefined;
}

/**
 * Finish reasons that mean the text is not a usable answer. With no tool call, a `length` or
 * `content_filter` finish would otherwise end the run with a cut-off or empty final answer.
 */
export function unusableFinish(response: ModelResponse, where: string, maxTokens: number | undefined): ModelBehaviorError | undefined {
  if (response.message.toolCalls?.length) return undefined;
  if (response.finishReason === 'length') {
    return new ModelBehaviorError(
      `${where} stopped at its output token limit (finish_reason "length") after ${response.usage.outputTokens} output tokens, ` +
        `so its answer is cut off. Raise maxTokens (now ${maxTokens ?? "the provider's default"}) or ask for a shorter answer in the instructions.`,
    );
  }
  if (response.finishReason === 'content_filter') {
    return new ModelBehaviorError(
      `${where} gave no usable answer: the provider's content filter withheld it (finish_reason "content_filter"). ` +
        'Rephrase the instructions or the input that set off the filter, or check the content policy of the provider.',
    );
  }
  return undefined;
}

/** Refuses a base URL the client could not reach: no http(s) scheme ("localhost:11434/v1" parses with the scheme "localhost:"). */
export function checkBaseURL(value: string, defaultBaseURL: string, from: string): void {
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (url && (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '') return;
  throw new UserError(
    `createOpenAIModel: the base URL ${JSON.stringify(value)} from ${from} is not an http:// or https:// URL. ` +
      `Set ${from} to the full base URL of the API, with its scheme, e.g. http://localhost:11434/v1 or ${defaultBaseURL}.`,
  );
}
