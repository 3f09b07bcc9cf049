import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { modelFacts, priceFor } from '../src/model/modelFacts.ts';
import { PRICE_FILE_ENV } from '../src/model/priceFile.ts';

const dir = mkdtempSync(join(tmpdir(), 'statecraft-facts-'));
let files = 0;
const priceFile = (json: unknown) => {
  const path = join(dir, `prices-${files++}.json`);
  writeFileSync(path, JSON.stringify(json));
  return path;
};

test('OpenAI models are priced from the catalogue, cached input included', () => {
  const price = priceFor('gpt-4o-mini');
  assert.ok(price, 'gpt-4o-mini is in the catalogue');
  assert.ok(price.inputPerMTok > 0 && price.outputPerMTok > price.inputPerMTok, JSON.stringify(price));
  assert.ok(price.cachedInputPerMTok !== undefined && price.cachedInputPerMTok < price.inputPerMTok, 'cached input is cheaper');
  assert.equal(modelFacts('gpt-4o')?.priceFrom, 'catalogue');
});

test('a dated snapshot and a gateway name are priced as the model they name', () => {
  assert.equal(priceFor('gpt-4o-2024-08-06'), priceFor('gpt-4o'));
  assert.equal(priceFor('gpt-4o-mini-2024-07-18'), priceFor('gpt-4o-mini'));
  assert.equal(priceFor('openai/gpt-4o-mini'), priceFor('gpt-4o-mini'));
  // A snapshot the catalogue prices on its own keeps its own price.
  assert.not.equal(priceFor('gpt-4o-2024-05-13'), priceFor('gpt-4o'));
});

test('another model whose name starts like a known one is not priced as it', () => {
  assert.ok(priceFor('o3-pro')!.inputPerMTok > priceFor('o3')!.inputPerMTok, 'o3-pro is dearer than o3');
  assert.is(priceFor('gpt-4oo'), undefined);
});

test('an unknown model has no price and no facts', () => {
  assert.is(priceFor('llama-3-70b'), undefined);
  assert.is(modelFacts('llama-3-70b'), undefined);
  assert.is(priceFor('constructor'), undefined);
  assert.is(priceFor('azure-eu/gpt-4o'), undefined);
  assert.is(priceFor('openai/'), undefined);
});

test("a provider's models are found by the provider's catalogue id", () => {
  const claude = modelFacts('anthropic/claude-sonnet-4-5');
  assert.ok(claude?.price && claude.contextWindow, JSON.stringify(claude));
  assert.is(modelFacts('claude-sonnet-4-5'), undefined, 'a bare name is looked up among OpenAI models only');
});

test("a known model's context window is known", () => {
  assert.is(modelFacts('gpt-4o')?.contextWindow, 128_000);
  assert.is(modelFacts('gpt-4o-2024-08-06')?.contextWindow, 128_000);
  assert.ok((modelFacts('gpt-5')?.contextWindow ?? 0) >= 128_000);
});

test("the agent's prices override a price file, which overrides the catalogue", () => {
  const file = priceFile({ models: { 'gpt-4o': { inputPerMTok: 1, outputPerMTok: 2, maxOutput: 16_384 }, local: { inputPerMTok: 0.1, outputPerMTok: 0.2, contextWindow: 8_192 } } });
  const fromFile = modelFacts('gpt-4o-2024-08-06', { priceFile: file });
  assert.equal(fromFile?.price, { inputPerMTok: 1, outputPerMTok: 2 });
  assert.is(fromFile?.priceFrom, 'price file');
  assert.is(fromFile?.contextWindow, 128_000, "the catalogue's window stays when the file gives none");
  assert.is(fromFile?.maxOutput, 16_384);
  assert.equal(modelFacts('local', { priceFile: file }), { price: { inputPerMTok: 0.1, outputPerMTok: 0.2 }, priceFrom: 'price file', contextWindow: 8_192 });
  const own = modelFacts('gpt-4o', { priceFile: file, prices: { 'gpt-4o': { inputPerMTok: 9, outputPerMTok: 9 } } });
  assert.equal(own?.price, { inputPerMTok: 9, outputPerMTok: 9 });
  assert.is(own?.priceFrom, 'agent');
});

test('STATECRAFT_PRICES names the price file of the process', () => {
  const file = priceFile({ models: { 'my-finetune': { inputPerMTok: 3, outputPerMTok: 12, cachedInputPerMTok: 1.5 } } });
  const before = process.env[PRICE_FILE_ENV];
  try {
    assert.is(priceFor('my-finetune'), undefined);
    process.env[PRICE_FILE_ENV] = file;
    assert.equal(priceFor('my-finetune'), { inputPerMTok: 3, outputPerMTok: 12, cachedInputPerMTok: 1.5 });
    assert.equal(priceFor('my-finetune', { 'my-finetune': { inputPerMTok: 1, outputPerMTok: 1 } }), { inputPerMTok: 1, outputPerMTok: 1 });
  } finally {
    if (before === undefined) delete process.env[PRICE_FILE_ENV];
    else process.env[PRICE_FILE_ENV] = before;
  }
});

test.run();
