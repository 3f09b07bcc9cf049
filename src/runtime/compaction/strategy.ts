import type { Message } from '../../protocol/messages.ts';

/** What a compaction strategy is given: the conversation, what it may not touch, and the size to reach. */
export interface CompactionInput {
  readonly messages: readonly Message[];
  /** Indices of messages that must stay as they are: the system prompt, the task, pinned turns. */
  readonly pinned: ReadonlySet<number>;
  /** Tokens the messages hold now, counted as the model counts them. */
  readonly tokens: number;
  /** The size to bring them under, in tokens. */
  readonly target: number;
  /** The model step the compaction runs before. */
  readonly step: number;
  /** Ids already naming elided outputs in this run: a new one must differ. */
  readonly elidedIds: ReadonlySet<string>;
  readonly signal: AbortSignal;
  /** Tokens of these messages as a request, counted as `tokens` was. */
  count(messages: readonly Message[]): number;
  /**
   * Asks the agent's model (its own port, no tools offered) to follow `instructions` over `text`, and
   * gives its answer. The call is recorded with the compaction, and its tokens and cost count against the run's budgets.
   */
  ask(request: { instructions: string; text: string }): Promise<string>;
}

/** What a strategy gives back: the new messages, and the tool outputs it elided (by index in its input). */
export interface CompactionStep {
  messages: Message[];
  elided?: { id: string; index: number }[];
}

/**
 * A way to shrink a conversation. The runtime checks every result: pinned messages kept, and no tool
 * call separated from its result (a strategy that breaks either fails the run, naming itself).
 */
export interface CompactionStrategy {
  /** Named in the run's record of each compaction. */
  readonly name: string;
  /** True when it elides tool outputs: the model is then offered `recall_tool_output`. */
  readonly elides?: boolean;
  compact(input: CompactionInput): CompactionStep | Promise<CompactionStep>;
}

/** An agent's `compaction` setting. */
export interface CompactionOptions {
  /** Compact when the next model input would pass this share of the context window (default 0.8). */
  at?: number;
  /** Bring the input under this share of the window (default 0.5); below `at`. */
  target?: number;
  /** A strategy, or several tried in order until the input is under `target`. */
  strategy: CompactionStrategy | readonly CompactionStrategy[];
  /** Marks messages (with the rest of their turn) that no strategy may change, besides the system prompt and the task. */
  pin?: (message: Message, index: number) => boolean;
}

/** `CompactionOptions` as a defined agent holds them: defaults applied, strategies as a list. */
export interface Compaction {
  readonly at: number;
  readonly target: number;
  readonly strategies: readonly CompactionStrategy[];
  readonly pin: ((message: Message, index: number) => boolean) | undefined;
}

/** The name of the tool that reads an elided output back. */
export const RECALL_TOOL = 'recall_tool_output';
