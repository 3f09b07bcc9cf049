import type { AssistantMessage, ToolCall } from '../protocol/messages.ts';

/**
 * A call as the port contract types it, whatever the server sent: some send arguments as an object
 * (kept, as its JSON text) or a name or id that is not a string (validation then tells the model).
 */
function asToolCall(call: unknown): ToolCall {
  const given = (typeof call === 'object' && call !== null ? call : {}) as Partial<Record<keyof ToolCall, unknown>>;
  const text = (value: unknown) => (typeof value === 'string' ? value : value === undefined || value === null ? '' : String(value));
  const args = given.arguments;
  return {
    id: text(given.id),
    name: text(given.name),
    arguments: typeof args === 'string' ? args : typeof args === 'object' && args !== null ? JSON.stringify(args) : text(args),
  };
}

/** Give each call a usable, unique id, and say which ones the model got wrong. */
export function normalizeCalls(message: AssistantMessage, step: number) {
  const problems: Record<string, string> = {};
  if (!message.toolCalls?.length) return { message, problems };
  const seen = new Set<string>();
  const toolCalls = message.toolCalls.map((given, index): ToolCall => {
    const call = asToolCall(given);
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
