import type { Message } from '../../protocol/messages.ts';

/**
 * The turns of a conversation as `[start, end)` index ranges: an assistant message with the results of
 * its tool calls, or any other single message. A compaction strategy keeps or removes turns whole,
 * which is what keeps a tool call with its result.
 */
export function turnsOf(messages: readonly Message[]): [number, number][] {
  const turns: [number, number][] = [];
  for (let i = 0; i < messages.length; ) {
    let end = i + 1;
    if (messages[i]!.role === 'assistant') while (end < messages.length && messages[end]!.role === 'tool') end++;
    turns.push([i, end]);
    i = end;
  }
  return turns;
}

/**
 * The indices of messages no strategy may change: the leading system messages, the first user message
 * (the task), and every message `pin` marks, each with the rest of its turn.
 */
export function pinnedIndices(messages: readonly Message[], pin?: (message: Message, index: number) => boolean): Set<number> {
  const pinned = new Set<number>();
  let i = 0;
  while (i < messages.length && messages[i]!.role === 'system') pinned.add(i++);
  const task = messages.findIndex((message) => message.role === 'user');
  if (task >= 0) pinned.add(task);
  if (pin) {
    for (const [start, end] of turnsOf(messages)) {
      let marked = false;
      for (let j = start; j < end && !marked; j++) marked = pin(messages[j]!, j);
      if (marked) for (let j = start; j < end; j++) pinned.add(j);
    }
  }
  return pinned;
}

/**
 * What breaks the rule that every tool result directly follows the assistant message that made its
 * call, and every call has its result; undefined when nothing does.
 */
export function pairingProblem(messages: readonly Message[]): string | undefined {
  for (const [start, end] of turnsOf(messages)) {
    const first = messages[start]!;
    if (first.role === 'tool') return `message ${start} is the result of tool call ${first.toolCallId} (${first.name}), but no assistant message with that call comes right before it`;
    if (first.role !== 'assistant') continue;
    const calls = (first.toolCalls ?? []).map((call) => call.id);
    const results = messages.slice(start + 1, end).map((message) => (message as { toolCallId: string }).toolCallId);
    const missing = calls.filter((id) => !results.includes(id));
    const stray = results.filter((id) => !calls.includes(id));
    // The latest turn may still wait for its results (a run compacted between a call and its result never is).
    if (missing.length && end < messages.length) return `the assistant message at ${start} calls ${missing.join(', ')}, whose results do not follow it`;
    if (stray.length) return `the results of ${stray.join(', ')} follow the assistant message at ${start}, which did not call them`;
  }
  return undefined;
}
