import type { MemoryInput } from '../protocol/agent.ts';
import type { Message } from '../protocol/messages.ts';
import type { Agent } from './defineAgent.ts';
import { memoryScope } from './memoryOptions.ts';
import { WORKING_MEMORY_TOOL } from './memoryTools.ts';
import type { RunHooks } from './provideAgent.ts';

/**
 * The messages that carry a turn's memory, made from what was recorded alone (so an audit rebuilds
 * the request from the log): the working memory, then the notes recalled.
 */
export function memoryMessages(memory: MemoryInput): Message[] {
  const out: Message[] = [];
  if (memory.working) {
    out.push({
      role: 'system',
      content: `Working memory (version ${memory.working.version}; change it with ${WORKING_MEMORY_TOOL} when you learn something that belongs in it):\n${JSON.stringify(memory.working.value)}`,
    });
  }
  if (memory.recalled?.length) {
    const lines = memory.recalled.map((note) => `- [${note.id}] ${note.text}${note.tags.length ? ` (${note.tags.join(', ')})` : ''}`);
    out.push({ role: 'system', content: `Notes recalled from long-term memory (saved earlier; they may be out of date):\n${lines.join('\n')}` });
  }
  return out;
}

/** The messages with the memory's placed after the leading system messages (the instructions). */
export function withMemory(messages: readonly Message[], memory: MemoryInput): readonly Message[] {
  const added = memoryMessages(memory);
  if (!added.length) return messages;
  let head = 0;
  while (head < messages.length && messages[head]!.role === 'system') head++;
  return [...messages.slice(0, head), ...added, ...messages.slice(head)];
}

const latestUserText = (messages: readonly Message[]): string | undefined => {
  for (let i = messages.length - 1; i >= 0; i--) {
    const message = messages[i]!;
    if (message.role === 'user') return message.content;
  }
  return undefined;
};

/**
 * What memory a turn's request carries: the working memory as stored now, and the notes recalled for
 * the latest user message (asked once per message: the turns that follow a tool call reuse them).
 * Undefined for an agent without memory.
 */
export function memoryReader(agent: Agent, hooks: RunHooks): ((messages: readonly Message[], signal: AbortSignal) => Promise<MemoryInput>) | undefined {
  const { memory, workingMemory } = agent;
  if (!memory && !workingMemory) return undefined;
  let asked: { text: string; recalled: NonNullable<MemoryInput['recalled']> } | undefined;
  return async (messages, signal) => {
    const input: MemoryInput = {};
    if (workingMemory) {
      const current = await workingMemory.store().working(memoryScope(workingMemory.level, agent.name, hooks.identity, hooks.runId));
      input.working = current ? { version: current.version, value: current.value } : { version: 0, value: {} };
    }
    const text = latestUserText(messages);
    if (memory && memory.limit > 0 && text?.trim()) {
      if (asked?.text !== text) {
        const scope = memoryScope(memory.level, agent.name, hooks.identity, hooks.runId);
        const [embedding] = memory.embeddings?.embed ? await memory.embeddings.embed([text], { signal }) : [];
        const found = await memory.store().recall(scope, {
          text,
          limit: memory.limit,
          ...(embedding ? { embedding } : {}),
          ...(memory.minScore === undefined ? {} : { minScore: memory.minScore }),
        });
        asked = { text, recalled: found.map((note) => ({ id: note.id, text: note.text, tags: note.tags, score: Math.round(note.score * 1e4) / 1e4 })) };
      }
      if (asked.recalled.length) input.recalled = asked.recalled;
    }
    return input;
  };
}
