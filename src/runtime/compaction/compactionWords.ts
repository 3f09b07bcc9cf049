import type { CompactionOutcome } from '../../protocol/agent.ts';

const n = (value: unknown) => (typeof value === 'number' ? value.toLocaleString('en-US') : '?');

/** A compaction record's outcome in words: "Compacted context: 41 → 12 messages, 9,800 → 2,100 tokens (summarize)". */
export function compactionWords(output: unknown): string {
  const outcome = (typeof output === 'object' && output !== null ? output : {}) as Partial<CompactionOutcome>;
  const { before, after } = outcome;
  if (!outcome.strategy) return `Compaction checked the context (${n(before?.tokens)} tokens) and found nothing to change`;
  const usage = outcome.usage ? `; the summary took ${n(outcome.usage.inputTokens)} in / ${n(outcome.usage.outputTokens)} out` : '';
  const elided = outcome.elided?.length ? `, ${outcome.elided.length} tool output${outcome.elided.length === 1 ? '' : 's'} elided` : '';
  return `Compacted context: ${n(before?.messages)} → ${n(after?.messages)} messages, ${n(before?.tokens)} → ${n(after?.tokens)} tokens (${outcome.strategy}${elided})${usage}`;
}
