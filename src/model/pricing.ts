import type { Usage } from '../protocol/messages.ts';

/** USD per million tokens for one model. */
export interface Price {
  inputPerMTok: number;
  outputPerMTok: number;
}

/**
 * Prices by model name; a name also prices its dated snapshots (`<name>-YYYY-MM-DD`) and, for a
 * gateway such as OpenRouter or LiteLLM, `openai/<name>`.
 */
export type PriceTable = Record<string, Price>;

/**
 * OpenAI list prices (standard tier, USD per 1M tokens) as published in 2025; prices change, so pass your own table where it matters.
 * @example
 * const table: PriceTable = { ...defaultPrices, 'my-finetune': { inputPerMTok: 3, outputPerMTok: 12 } };
 */
export const defaultPrices: Readonly<PriceTable> = Object.freeze({
  'gpt-4o': { inputPerMTok: 2.5, outputPerMTok: 10 },
  'gpt-4o-2024-05-13': { inputPerMTok: 5, outputPerMTok: 15 },
  'gpt-4o-mini': { inputPerMTok: 0.15, outputPerMTok: 0.6 },
  'gpt-4.1': { inputPerMTok: 2, outputPerMTok: 8 },
  'gpt-4.1-mini': { inputPerMTok: 0.4, outputPerMTok: 1.6 },
  'gpt-4.1-nano': { inputPerMTok: 0.1, outputPerMTok: 0.4 },
  o1: { inputPerMTok: 15, outputPerMTok: 60 },
  'o3-mini': { inputPerMTok: 1.1, outputPerMTok: 4.4 },
  o3: { inputPerMTok: 2, outputPerMTok: 8 },
  'o4-mini': { inputPerMTok: 1.1, outputPerMTok: 4.4 },
  'gpt-5': { inputPerMTok: 1.25, outputPerMTok: 10 },
  'gpt-5-mini': { inputPerMTok: 0.25, outputPerMTok: 2 },
  'gpt-5-nano': { inputPerMTok: 0.05, outputPerMTok: 0.4 },
});

// Every snapshot of the listed models is named `<model>-YYYY-MM-DD` (gpt-4o-2024-08-06, o3-2025-04-16).
// Any other suffix names another model, often a dearer one (o3-pro, gpt-5-pro), so it gets no price
// rather than a guess: a cost budget for it is then refused until the table lists it.
const snapshot = /^(.+)-\d{4}-\d{2}-\d{2}$/;

// Gateways name OpenAI's models `openai/<model>` and bill them at OpenAI's prices. Other providers'
// models are not OpenAI's whatever they are called (`azure-eu/gpt-4o` has its own prices), so only
// this prefix is looked through.
const gateway = 'openai/';

/**
 * The price of a model: its exact name, else the name its dated snapshot (`<name>-YYYY-MM-DD`) is
 * taken from, else for `openai/<name>` the price of `<name>`; undefined when unknown.
 */
export function priceFor(model: string, table: Readonly<PriceTable> = defaultPrices): Price | undefined {
  if (Object.hasOwn(table, model)) return table[model];
  const base = snapshot.exec(model)?.[1];
  if (base !== undefined && Object.hasOwn(table, base)) return table[base];
  return model.startsWith(gateway) && model.length > gateway.length ? priceFor(model.slice(gateway.length), table) : undefined;
}

/** The cost in USD of some usage at a price. */
export function costOf(usage: Usage, price: Price): number {
  return (usage.inputTokens * price.inputPerMTok + usage.outputTokens * price.outputPerMTok) / 1_000_000;
}
