import { z } from 'zod';
import { closestName } from '../nearestName.ts';

const perMTok = z.number().nonnegative(); // zod 4 refuses NaN and ±Infinity
const tokens = z.number().int().positive();

const TierSchema = z.strictObject({
  aboveInputTokens: z.number().int().nonnegative(),
  inputPerMTok: perMTok,
  outputPerMTok: perMTok,
  cachedInputPerMTok: perMTok.optional(),
});

/** A price as the agent's `prices` and a price file give it (USD per million tokens). */
export const PriceSchema = z.strictObject({
  inputPerMTok: perMTok,
  outputPerMTok: perMTok,
  cachedInputPerMTok: perMTok.optional(),
  tiers: z.array(TierSchema).optional(),
});

/** One model in a price file: its price and, when known, its context window and longest answer in tokens. */
export const PriceFileEntrySchema = PriceSchema.extend({
  contextWindow: tokens.optional(),
  maxOutput: tokens.optional(),
});

/** A price file: `{ "models": { "<model name>": { "inputPerMTok": 2.5, "outputPerMTok": 10, ... } } }`. */
export const PriceFileSchema = z.strictObject({
  $schema: z.string().optional(),
  models: z.record(z.string().min(1), PriceFileEntrySchema),
});

const fieldsOf = (schema: z.ZodObject) => Object.keys(schema.shape);

const at = (value: unknown, path: readonly PropertyKey[]): unknown =>
  path.reduce<unknown>((v, key) => (typeof v === 'object' && v !== null ? (v as Record<PropertyKey, unknown>)[key] : undefined), value);

const shown = (value: unknown) => (typeof value === 'string' ? JSON.stringify(value) : value === undefined ? 'nothing' : JSON.stringify(value) ?? String(value));

/**
 * Each problem zod found in a price, said as what was expected and what was found, with the field's
 * path (e.g. `models["gpt-x"].inputPerMTok` in a price file).
 */
export function priceProblems(error: z.ZodError, value: unknown, root: 'price' | 'file'): string[] {
  const fieldsAt = (path: readonly PropertyKey[]) =>
    path.includes('tiers') ? fieldsOf(TierSchema) : root === 'price' ? fieldsOf(PriceSchema) : path.length === 0 ? fieldsOf(PriceFileSchema) : fieldsOf(PriceFileEntrySchema);
  return error.issues.map((issue) => {
    const path = issue.path.map((key) => (typeof key === 'number' ? `[${key}]` : /^[A-Za-z_$][\w$]*$/.test(String(key)) ? `.${String(key)}` : `[${JSON.stringify(key)}]`)).join('');
    const field = path.replace(/^\./, '') || 'the price';
    const found = at(value, issue.path);
    if (issue.code === 'unrecognized_keys') {
      const known = fieldsAt(issue.path);
      return issue.keys
        .map((key) => {
          const near = closestName(key, known);
          return `${field === 'the price' ? '' : `${field}: `}unknown field "${key}"${near ? ` (did you mean "${near}"?)` : ''}`;
        })
        .join(', ');
    }
    if (found === undefined) return `${field} is missing`;
    if (issue.code === 'invalid_type' && issue.expected === 'object') return `${field} must be an object, found ${shown(found)}`;
    if (issue.code === 'invalid_type' && issue.expected === 'array') return `${field} must be a list, found ${shown(found)}`;
    return `${field} must be ${/Tokens$|contextWindow|maxOutput/.test(String(issue.path.at(-1))) ? 'a whole number of tokens' : 'a finite number >= 0'}, found ${shown(found)}`;
  });
}
