import { catalogueEntry } from './catalogue.ts';
import { envPriceFile, readPriceFile, type PriceFileEntry } from './priceFile.ts';
import { entryFor, type Price, type PriceTable } from './pricing.ts';

/** What is known of a model: its price, its context window and its longest answer, in tokens. */
export interface ModelFacts {
  price?: Price;
  /** Where the price comes from: the agent's `prices`, a price file, or the bundled catalogue. */
  priceFrom?: 'agent' | 'price file' | 'catalogue';
  /** Input and output tokens one request may hold. */
  contextWindow?: number;
  /** Output tokens one answer may hold (given by price files; the catalogue does not list it). */
  maxOutput?: number;
}

/** Where prices come from besides the catalogue; each overrides the ones after it. */
export interface PriceSources {
  /** Prices given in code (an agent's `prices`). */
  prices?: Readonly<PriceTable>;
  /** A price file's path; defaults to STATECRAFT_PRICES. */
  priceFile?: string;
}

const fileOf = (sources: PriceSources): Readonly<Record<string, PriceFileEntry>> =>
  sources.priceFile !== undefined ? readPriceFile(sources.priceFile) : envPriceFile();

const priceOf = ({ contextWindow: _, maxOutput: __, ...price }: PriceFileEntry): Price => price;

/**
 * The facts known of a model, from the agent's prices, then a price file (STATECRAFT_PRICES), then
 * the bundled catalogue (OpenAI's models by name; `<provider>/<name>` for other providers); each
 * source names models as a price table does (dated snapshots, `openai/` names). Undefined when no
 * source knows the model. Throws a UserError for a price file that cannot be used.
 * @example
 * modelFacts('gpt-4o-2024-08-06'); // { price: { inputPerMTok: 2.5, ... }, priceFrom: 'catalogue', contextWindow: 128000 }
 */
export function modelFacts(model: string, sources: PriceSources = {}): ModelFacts | undefined {
  const own = entryFor(sources.prices ?? {}, model);
  const listed = entryFor(fileOf(sources), model);
  const catalogued = catalogueEntry(model);
  const price = own ?? (listed ? priceOf(listed) : catalogued?.price);
  const facts: ModelFacts = {};
  if (price) {
    facts.price = price;
    facts.priceFrom = own ? 'agent' : listed ? 'price file' : 'catalogue';
  }
  const contextWindow = listed?.contextWindow ?? catalogued?.contextWindow;
  if (contextWindow !== undefined) facts.contextWindow = contextWindow;
  if (listed?.maxOutput !== undefined) facts.maxOutput = listed.maxOutput;
  return Object.keys(facts).length > 0 ? facts : undefined;
}

/** The price of a model from the same sources as `modelFacts`; undefined when none knows it. */
export function priceFor(model: string, prices?: Readonly<PriceTable>, priceFile?: string): Price | undefined {
  // In order, so that a model the user prices never loads the catalogue.
  const own = entryFor(prices ?? {}, model);
  if (own) return own;
  const listed = entryFor(fileOf({ priceFile }), model);
  return listed ? priceOf(listed) : catalogueEntry(model)?.price;
}
