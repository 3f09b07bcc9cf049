import type { Usage } from '../protocol/messages.ts';

const format = (n: number) => n.toLocaleString('en-US');

/** Parts of a usage worth saying beside its total: cached input and reasoning tokens, when there are some. */
export function tokenParts(usage: Partial<Usage>): string {
  const parts: string[] = [];
  if (usage.cachedInputTokens) parts.push(`${format(usage.cachedInputTokens)} cached`);
  if (usage.reasoningTokens) parts.push(`${format(usage.reasoningTokens)} reasoning`);
  return parts.length > 0 ? ` (${parts.join(', ')})` : '';
}

/** A usage as the CLI says it: `1,234 tokens`, then `(300 cached, 120 reasoning)` when there are some. */
export function tokensText(usage: Usage): string {
  return `${format(usage.inputTokens + usage.outputTokens)} tokens${tokenParts(usage)}`;
}
