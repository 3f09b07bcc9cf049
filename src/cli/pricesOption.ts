import { resolve } from 'node:path';

export const pricesOptions = { prices: { type: 'string' } } as const;

export const pricesHelp = `  --prices FILE      a JSON price file, { "models": { "NAME": { "inputPerMTok": 2, "outputPerMTok": 8 } } };
                     its prices override the bundled catalogue's (default: STATECRAFT_PRICES)`;

/**
 * Check the price file `--prices` names, before anything runs, and make it the process's
 * (STATECRAFT_PRICES), so that the agent module and the run price with it.
 */
export async function usePriceFile(values: Record<string, unknown>): Promise<void> {
  const fromEnv = process.env['STATECRAFT_PRICES'];
  if (typeof values['prices'] !== 'string' && !fromEnv) return;
  // Loaded here, not with the CLI: only the commands given a price file read one. It is checked
  // before the command opens a store or loads an agent, so a refusal leaves nothing behind.
  const { PRICE_FILE_ENV, readPriceFile } = await import('../model/priceFile.ts');
  if (typeof values['prices'] !== 'string') {
    readPriceFile(fromEnv!, PRICE_FILE_ENV);
    return;
  }
  readPriceFile(values['prices'], '--prices');
  process.env[PRICE_FILE_ENV] = resolve(values['prices']);
}
