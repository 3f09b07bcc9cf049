import { estimatingCounter, type TokenCounter } from '../model/tokenCounter.ts';
import type { Message } from '../protocol/messages.ts';

/**
 * The message window sent to the model: leading system messages and the first user message are
 * kept, then as many of the latest turns as fit `maxTokens`, counted by `counter`. A turn is cut
 * only at a user or assistant message, so a tool result never loses the assistant message that asked for it.
 */
export function assembleMessages(messages: readonly Message[], maxTokens?: number, counter: TokenCounter = estimatingCounter()): readonly Message[] {
  if (maxTokens === undefined) return messages;
  let head = 0;
  while (head < messages.length && messages[head]!.role === 'system') head++;
  if (head < messages.length && messages[head]!.role === 'user') head++;
  let budget = maxTokens - counter.request([]);
  for (let i = 0; i < head; i++) budget -= counter.message(messages[i]!);
  let start = messages.length;
  let used = 0;
  for (let i = messages.length - 1; i >= head; i--) {
    used += counter.message(messages[i]!);
    if (used > budget) break;
    if (messages[i]!.role !== 'tool') start = i;
  }
  if (start === head) return messages;
  if (start === messages.length) {
    // Nothing fits: keep the latest turn whole rather than send a history that breaks the API contract.
    start = messages.length - 1;
    while (start > head && messages[start]!.role === 'tool') start--;
  }
  return [...messages.slice(0, head), ...messages.slice(start)];
}
