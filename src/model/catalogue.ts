import { createRequire } from 'node:module';
import type { Price, PriceTier } from './pricing.ts';

type Catalogue = typeof import('@pydantic/genai-prices');
type ModelPrice = NonNullable<ReturnType<Catalogue['calcPrice']>>['model_price'];
type Rate = ModelPrice[string];

/** What the bundled catalogue knows of a model. */
export interface CatalogueEntry {
  /** The catalogue's id for the model (a dated snapshot is listed under its model). */
  id: string;
  contextWindow?: number;
  price?: Price;
}

let catalogue: Catalogue | undefined;

// The catalogue is a quarter of a second of parsing, paid the first time a model is priced and never by
// commands that price nothing (`--help`, `runs`). Loaded synchronously, so that agent definitions can
// check a cost budget when they are made; it reads its bundled data and fetches nothing.
const load = (): Catalogue => (catalogue ??= createRequire(import.meta.url)('@pydantic/genai-prices') as Catalogue);

const entries = new Map<string, CatalogueEntry | undefined>();

/**
 * The catalogue's entry for a model: a bare name (or `openai/<name>`) among OpenAI's models, and
 * `<provider>/<name>` among that provider's when the catalogue has a provider of exactly that id
 * (`anthropic/claude-sonnet-4-5`, as gateways name them); undefined when unknown.
 */
export function catalogueEntry(model: string): CatalogueEntry | undefined {
  if (entries.has(model)) return entries.get(model);
  const entry = lookUp(model);
  entries.set(model, entry);
  return entry;
}

function lookUp(model: string): CatalogueEntry | undefined {
  const slash = model.indexOf('/');
  const providerId = slash > 0 ? model.slice(0, slash) : 'openai';
  const name = slash > 0 ? model.slice(slash + 1) : model;
  if (name === '' || name.includes('/')) return undefined;
  const { calcPrice, findProvider } = load();
  // Only a provider named exactly: the catalogue also matches ids loosely, and `azure-eu/gpt-4o` is not Azure's list price.
  if (findProvider({ providerId })?.id !== providerId) return undefined;
  const found = calcPrice({}, name, { providerId });
  if (!found || found.provider.id !== providerId) return undefined;
  const price = toPrice(found.model_price);
  return { id: found.model.id, ...(found.model.context_window ? { contextWindow: found.model.context_window } : {}), ...(price ? { price } : {}) };
}

type Tiered = { base: number; tiers: { start: number; price: number }[] };

const isTiered = (rate: Rate): rate is Tiered => typeof rate === 'object' && rate !== null && typeof (rate as Tiered).base === 'number';

/** The rate in force for a request with `inputTokens` of input (the catalogue's tiers apply above their start). */
function rateAt(rate: Rate, inputTokens: number): number | undefined {
  if (typeof rate === 'number') return rate;
  if (!isTiered(rate)) return undefined;
  let value = rate.base;
  for (const tier of rate.tiers) if (inputTokens > tier.start) value = tier.price;
  return value;
}

/** The catalogue's text-token rates as a Price; undefined for a model it lists without token prices. */
function toPrice(rates: ModelPrice): Price | undefined {
  const input = rateAt(rates['input_mtok'], 0);
  const output = rateAt(rates['output_mtok'], 0);
  if (input === undefined || output === undefined) return undefined;
  const cached = rateAt(rates['cache_read_mtok'], 0);
  const price: Price = { inputPerMTok: input, outputPerMTok: output, ...(cached === undefined ? {} : { cachedInputPerMTok: cached }) };
  const starts = new Set<number>();
  for (const key of ['input_mtok', 'output_mtok', 'cache_read_mtok']) {
    const rate = rates[key];
    if (isTiered(rate)) for (const tier of rate.tiers) starts.add(tier.start);
  }
  if (starts.size === 0) return price;
  const tiers = [...starts].sort((a, b) => a - b).map((start): PriceTier => {
    const cachedRate = rateAt(rates['cache_read_mtok'], start + 1);
    return {
      aboveInputTokens: start,
      inputPerMTok: rateAt(rates['input_mtok'], start + 1)!,
      outputPerMTok: rateAt(rates['output_mtok'], start + 1)!,
      ...(cachedRate === undefined ? {} : { cachedInputPerMTok: cachedRate }),
    };
  });
  return { ...price, tiers };
}
