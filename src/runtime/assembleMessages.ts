import type { Message } from '../protocol/messages.ts';

const CHARS_PER_TOKEN = 4;

const sizeOf = (message: Message) => {
  let chars = message.content?.length ?? 0;
  if (message.role === 'assistant') {
    for (const call of message.toolCalls ?? []) chars += call.name.length + call.arguments.length + 16;
  }
  return Math.ceil(chars / CHARS_PER_TOKEN) + 4;
};

/**
 * The message window sent to the model: leading system messages and the first user message are
 * kept, then as many of the latest turns as fit `maxTokens`. A turn is cut only at a user or
 * assistant message, so a tool result never loses the assistant message that asked for it.
 */
export function assembleMessages(messages: readonly Message[], maxTokens?: number): readonly Message[] {
  if (maxTokens === undefined) return messages;
  let head = 0;
  while (head < messages.length && messages[head]!.role === 'system') head++;
  if (head < messages.length && messages[head]!.role === 'user') head++;
  let budget = maxTokens;
  for (let i = 0; i < head; i++) budget -= sizeOf(messages[i]!);
  let start = messages.length;
  let used = 0;
  for (let i = messages.length - 1; i >= head; i--) {
    used += sizeOf(messages[i]!);
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
