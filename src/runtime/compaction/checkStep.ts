import { MessageSchema, type Message } from '../../protocol/messages.ts';
import type { Agent } from '../defineAgent.ts';
import type { CompactionStep } from './strategy.ts';
import { pairingProblem } from './turns.ts';

const same = (a: Message, b: Message) => a === b || JSON.stringify(a) === JSON.stringify(b);

/**
 * Refuses a strategy's result that is malformed, drops or changes a pinned message, or parts a tool
 * call from its result (when the messages it was given kept them together), naming the strategy.
 */
export function checkStep(agent: Agent, strategy: string, given: readonly Message[], pinned: ReadonlySet<number>, result: CompactionStep): void {
  const fail = (what: string) => {
    throw new Error(`Compaction strategy "${strategy}" of agent "${agent.name}" ${what}. A strategy must keep pinned messages and every tool call with its result; fix the strategy or remove it from the agent's compaction.`);
  };
  if (!Array.isArray(result?.messages)) fail(`returned ${JSON.stringify(result)?.slice(0, 80)}, not { messages: [...] }`);
  result.messages.forEach((message, i) => {
    if (!MessageSchema.safeParse(message).success) fail(`returned a malformed message at ${i}: ${JSON.stringify(message)?.slice(0, 120)}`);
  });
  let at = 0;
  for (const index of [...pinned].sort((a, b) => a - b)) {
    while (at < result.messages.length && !same(result.messages[at]!, given[index]!)) at++;
    if (at === result.messages.length) fail(`dropped or changed pinned message ${index} (${given[index]!.role})`);
    at++;
  }
  for (const { id, index } of result.elided ?? []) {
    if (typeof id !== 'string' || !id || given[index]?.role !== 'tool') fail(`elided ${JSON.stringify({ id, index })}, which names no tool result of the messages it was given`);
  }
  if (pairingProblem(given) !== undefined) return;
  const problem = pairingProblem(result.messages);
  if (problem) fail(`separated a tool call from its result: ${problem}`);
}
