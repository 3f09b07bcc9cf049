import { UserError } from '../../errors.ts';
import type { Message } from '../../protocol/messages.ts';
import { RECALL_TOOL, type CompactionInput, type CompactionStep, type CompactionStrategy } from './strategy.ts';
import { turnsOf } from './turns.ts';

/** How a summary message begins: a later summary folds an earlier one in. */
export const SUMMARY_PREFIX = '[Summary of the earlier conversation, written to save context]';
/** How the stub of an elided tool output begins. */
export const ELIDED_PREFIX = '[Output elided to save context';

const DEFAULT_INSTRUCTIONS =
  'You compact the context of an agent that is part way through a task. Summarize the conversation below ' +
  'for the agent itself: the facts it learned, the decisions made and why, what its tools returned that it ' +
  'still needs (names, numbers, paths, ids), and what remains to do. Write plain prose, briefly; invent nothing.';

export interface SummarizeOptions {
  /** Latest turns kept word for word (default 4). */
  keepLast?: number;
  /** What the model is asked to do with the older turns (a default asks for facts, decisions, results and open work). */
  instructions?: string;
  /** Characters of one message given to the model; a longer one is cut in the middle (default 4,000). */
  maxMessageChars?: number;
}

export interface ElideToolOutputsOptions {
  /** Latest turns whose tool outputs stay (default 2). */
  keepLast?: number;
  /** Outputs shorter than this many characters stay (default 200). */
  minChars?: number;
}

const count = (name: string, field: string, value: number | undefined, fallback: number, least: number): number => {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < least) {
    throw new UserError(`${name}({ ${field} }) must be a whole number of at least ${least}, found ${String(value)}.`);
  }
  return value;
};

/** Turns a strategy may change: not pinned, and older than the latest `keepLast`. */
function olderTurns(input: CompactionInput, keepLast: number): [number, number][] {
  const turns = turnsOf(input.messages).filter(([start]) => !input.pinned.has(start));
  return turns.slice(0, Math.max(0, turns.length - keepLast));
}

const clip = (text: string, most: number) =>
  text.length <= most ? text : `${text.slice(0, Math.floor(most / 2))}\n[... ${text.length - most} characters left out ...]\n${text.slice(-Math.floor(most / 2))}`;

/** A message as a line of the transcript the model summarizes. */
function transcriptLine(message: Message, most: number): string {
  if (message.role === 'tool') return `Tool ${message.name} (${message.toolCallId}) returned: ${clip(message.content, most)}`;
  if (message.role === 'assistant') {
    const calls = (message.toolCalls ?? []).map((call) => `${call.name}(${clip(call.arguments, most)}) [${call.id}]`);
    return `Assistant: ${clip(message.content ?? '', most)}${calls.length ? `${message.content ? '\n' : ''}Assistant called ${calls.join(', ')}` : ''}`;
  }
  if (message.role === 'user' && message.content.startsWith(SUMMARY_PREFIX)) return `Earlier summary: ${message.content.slice(SUMMARY_PREFIX.length).trim()}`;
  return `${message.role === 'user' ? 'User' : 'System'}: ${clip(message.content, most)}`;
}

/**
 * A strategy that asks the model to summarize the turns older than the latest `keepLast` (an earlier
 * summary among them) and puts the summary in their place, as one user message. The model call is
 * recorded with the compaction and counts against the run's token and cost budgets.
 * @example
 * defineAgent({ name: 'researcher', compaction: { at: 0.8, strategy: summarize({ keepLast: 6 }) } });
 */
export function summarize(options: SummarizeOptions = {}): CompactionStrategy {
  const keepLast = count('summarize', 'keepLast', options.keepLast, 4, 0);
  const most = count('summarize', 'maxMessageChars', options.maxMessageChars, 4_000, 100);
  if (options.instructions !== undefined && (typeof options.instructions !== 'string' || !options.instructions.trim())) {
    throw new UserError(`summarize({ instructions }) must be non-empty text, found ${JSON.stringify(options.instructions)}.`);
  }
  const instructions = options.instructions ?? DEFAULT_INSTRUCTIONS;
  return {
    name: 'summarize',
    async compact(input: CompactionInput): Promise<CompactionStep> {
      const older = olderTurns(input, keepLast);
      if (!older.length) return { messages: [...input.messages] };
      const gone = new Set(older.flatMap(([start, end]) => Array.from({ length: end - start }, (_, i) => start + i)));
      const text = [...gone].map((i) => transcriptLine(input.messages[i]!, most)).join('\n\n');
      const summary = (await input.ask({ instructions, text })).trim();
      const first = older[0]![0];
      const messages: Message[] = [];
      input.messages.forEach((message, i) => {
        if (i === first) messages.push({ role: 'user', content: `${SUMMARY_PREFIX}\n${summary || '(The model gave an empty summary.)'}` });
        if (!gone.has(i)) messages.push(message);
      });
      return { messages };
    },
  };
}

/** The call id a `recall_tool_output` call asked for, from the assistant message before its result. */
function recalledId(messages: readonly Message[], index: number): string | undefined {
  const { toolCallId } = messages[index] as { toolCallId: string };
  for (let i = index - 1; i >= 0; i--) {
    const message = messages[i]!;
    if (message.role !== 'assistant') continue;
    const call = message.toolCalls?.find((c) => c.id === toolCallId);
    try {
      const id = call && (JSON.parse(call.arguments) as { id?: unknown }).id;
      return typeof id === 'string' ? id : undefined;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/**
 * A strategy that replaces the outputs of tool calls older than the latest `keepLast` turns, oldest
 * first, with a stub that names an id, until the input is under its target. The call and its (now
 * short) result stay together; the model can read an output again with the `recall_tool_output` tool,
 * which the runtime offers to an agent using this strategy.
 * @example
 * defineAgent({ name: 'coder', compaction: { strategy: [elideToolOutputs({ keepLast: 3 }), summarize()] } });
 */
export function elideToolOutputs(options: ElideToolOutputsOptions = {}): CompactionStrategy {
  const keepLast = count('elideToolOutputs', 'keepLast', options.keepLast, 2, 0);
  const minChars = count('elideToolOutputs', 'minChars', options.minChars, 200, 1);
  return {
    name: 'elideToolOutputs',
    elides: true,
    compact(input: CompactionInput): CompactionStep {
      const messages = [...input.messages];
      const elided: { id: string; index: number }[] = [];
      const used = new Set(input.elidedIds);
      let tokens = input.tokens;
      for (const [start, end] of olderTurns(input, keepLast)) {
        for (let i = start + 1; i < end && tokens > input.target; i++) {
          const message = messages[i]!;
          if (message.role !== 'tool' || message.content.length < minChars || message.content.startsWith(ELIDED_PREFIX)) continue;
          let content: string;
          const again = message.name === RECALL_TOOL ? recalledId(messages, i) : undefined;
          if (again !== undefined && used.has(again)) {
            // Already kept under its own id: the recalled copy needs no second one.
            content = `${ELIDED_PREFIX}: a recalled output. Call ${RECALL_TOOL} with {"id":${JSON.stringify(again)}} to read it again.]`;
          } else {
            let id = message.toolCallId;
            for (let n = 2; used.has(id); n++) id = `${message.toolCallId}~${n}`;
            used.add(id);
            elided.push({ id, index: i });
            content = `${ELIDED_PREFIX}: ${message.content.length} characters. Call ${RECALL_TOOL} with {"id":${JSON.stringify(id)}} to read it again.]`;
          }
          const stub: Message = { ...message, content };
          tokens -= input.count([message]) - input.count([stub]);
          messages[i] = stub;
        }
      }
      return { messages, elided };
    },
  };
}
