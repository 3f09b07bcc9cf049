import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { z } from 'zod';
import { UserError } from '../errors.ts';
import { PriceFileSchema, priceProblems, type PriceFileEntrySchema } from './priceSchema.ts';

/** One model in a price file: its price (USD per million tokens) and, when given, its context window and longest answer. */
export type PriceFileEntry = z.infer<typeof PriceFileEntrySchema>;

/** The environment variable that names a price file for every run of the process. */
export const PRICE_FILE_ENV = 'STATECRAFT_PRICES';

const example = '{ "models": { "my-model": { "inputPerMTok": 0.5, "outputPerMTok": 1.5, "cachedInputPerMTok": 0.25, "contextWindow": 128000 } } }';

// A file is read once per process: prices must not change in the middle of a run.
const read = new Map<string, Readonly<Record<string, PriceFileEntry>>>();

/**
 * The models of a price file, by name; throws a UserError that says what is wrong (no such file, not
 * JSON, a field that is missing or not a number) and how to fix it.
 * @example
 * // prices.json: { "models": { "my-finetune": { "inputPerMTok": 3, "outputPerMTok": 12 } } }
 * const models = readPriceFile('prices.json');
 */
export function readPriceFile(path: string, from = 'the price file'): Readonly<Record<string, PriceFileEntry>> {
  const full = resolve(path);
  const known = read.get(full);
  if (known) return known;
  // Every refusal names where the path came from and how to go on without the file.
  const undo = from === PRICE_FILE_ENV ? `, or unset ${PRICE_FILE_ENV}` : from === '--prices' ? ', or leave out --prices' : '';
  let text: string;
  try {
    text = readFileSync(full, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'does not exist' : code === 'EISDIR' ? 'is a folder' : `cannot be read (${(error as Error).message})`;
    throw new UserError(`Price file ${full} (${from}) ${why}. Give the path of a JSON file of prices, such as ${example}${undo}.`, { cause: error });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new UserError(`Price file ${full} (${from}) is not valid JSON: ${(error as Error).message}. Fix it to the form ${example}${undo}.`, { cause: error });
  }
  const parsed = PriceFileSchema.safeParse(json);
  if (!parsed.success) {
    const problems = priceProblems(parsed.error, json, 'file');
    throw new UserError(
      `Price file ${full} (${from}) is not usable: ${problems.join('; ')}. Each model needs inputPerMTok and outputPerMTok (USD per million tokens, numbers >= 0); ` +
        `cachedInputPerMTok, tiers, contextWindow and maxOutput are optional. Example: ${example}${undo}.`,
      { cause: parsed.error },
    );
  }
  const models = Object.freeze(parsed.data.models) as Readonly<Record<string, PriceFileEntry>>;
  read.set(full, models);
  return models;
}

/** The models of the price file named by STATECRAFT_PRICES, or none when it is unset. */
export function envPriceFile(): Readonly<Record<string, PriceFileEntry>> {
  const path = process.env[PRICE_FILE_ENV];
  return path ? readPriceFile(path, PRICE_FILE_ENV) : {};
}
