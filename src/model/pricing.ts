import type { Usage } from '../protocol/messages.ts';

/**
 * Rates that replace the base ones for a whole request whose input is above `aboveInputTokens`
 * (OpenAI's long-context prices work this way).
 */
export interface PriceTier {
  aboveInputTokens: number;
  inputPerMTok: number;
  outputPerMTok: number;
  cachedInputPerMTok?: number;
}

/**
 * USD per million tokens for one model. Cached input tokens cost `cachedInputPerMTok` (the input rate
 * when absent); reasoning tokens are output tokens and cost the output rate.
 */
export interface Price {
  inputPerMTok: number;
  outputPerMTok: number;
  cachedInputPerMTok?: number;
  /** Long-context rates, by the size of the request's input. */
  tiers?: readonly PriceTier[];
}

/**
 * Prices by model name; a name also prices its dated snapshots (`<name>-YYYY-MM-DD`) and, for a
 * gateway such as OpenRouter or LiteLLM, `openai/<name>`.
 */
export type PriceTable = Record<string, Price>;

// A snapshot of a model is named `<model>-YYYY-MM-DD` (gpt-4o-2024-08-06, o3-2025-04-16). Any other
// suffix names another model, often a dearer one (o3-pro, gpt-5-pro), so a table entry never prices it.
const snapshot = /^(.+)-\d{4}-\d{2}-\d{2}$/;

// Gateways name OpenAI's models `openai/<model>` and bill them at OpenAI's prices. Other providers'
// models are not OpenAI's whatever they are called (`azure-eu/gpt-4o` has its own prices), so only
// this prefix is looked through.
const gateway = 'openai/';

/**
 * The entry of a table for a model: its exact name, else the name its dated snapshot
 * (`<name>-YYYY-MM-DD`) is taken from, else for `openai/<name>` the entry of `<name>`.
 */
export function entryFor<T>(table: Readonly<Record<string, T>>, model: string): T | undefined {
  if (Object.hasOwn(table, model)) return table[model];
  const base = snapshot.exec(model)?.[1];
  if (base !== undefined && Object.hasOwn(table, base)) return table[base];
  return model.startsWith(gateway) && model.length > gateway.length ? entryFor(table, model.slice(gateway.length)) : undefined;
}

/** The rates that apply to a request with this many input tokens. */
function ratesFor(price: Price, inputTokens: number): Omit<PriceTier, 'aboveInputTokens'> {
  let rates: Omit<PriceTier, 'aboveInputTokens'> = price;
  for (const tier of price.tiers ?? []) if (inputTokens > tier.aboveInputTokens) rates = tier;
  return rates;
}

/**
 * The cost in USD of some usage at a price: uncached input at the input rate, cached input at the
 * cached rate, output (reasoning included, as OpenAI counts it) at the output rate.
 */
export function costOf(usage: Usage, price: Price): number {
  const rates = ratesFor(price, usage.inputTokens);
  const cached = Math.min(usage.cachedInputTokens ?? 0, usage.inputTokens);
  const cachedRate = rates.cachedInputPerMTok ?? rates.inputPerMTok;
  return ((usage.inputTokens - cached) * rates.inputPerMTok + cached * cachedRate + usage.outputTokens * rates.outputPerMTok) / 1_000_000;
}
