import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { costOf, defaultPrices, priceFor } from '../src/model/pricing.ts';
import type { PriceTable } from '../src/model/pricing.ts';

test('an exact name wins', () => {
  assert.equal(priceFor('gpt-4o-mini'), { inputPerMTok: 0.15, outputPerMTok: 0.6 });
});

test('a dated snapshot is priced as its model', () => {
  assert.equal(priceFor('gpt-4o-2024-08-06'), defaultPrices['gpt-4o']);
  assert.equal(priceFor('gpt-4o-mini-2024-07-18'), defaultPrices['gpt-4o-mini']);
  assert.equal(priceFor('gpt-4.1-nano-2025-04-14'), defaultPrices['gpt-4.1-nano']);
});

test('unknown models and bare-prefix lookalikes have no price', () => {
  assert.is(priceFor('llama-3-70b'), undefined);
  assert.is(priceFor('gpt-4oo'), undefined);
  assert.is(priceFor('constructor'), undefined);
});

test('a custom table replaces the defaults', () => {
  const table: PriceTable = { local: { inputPerMTok: 1, outputPerMTok: 2 } };
  assert.equal(priceFor('local', table), { inputPerMTok: 1, outputPerMTok: 2 });
  assert.equal(priceFor('local-2025-01-31', table), { inputPerMTok: 1, outputPerMTok: 2 });
  assert.is(priceFor('gpt-4o', table), undefined);
});

test('a listed name followed by anything but a date is another model, with no price', () => {
  assert.is(priceFor('o3-pro'), undefined);
  assert.is(priceFor('o1-pro'), undefined);
  assert.is(priceFor('gpt-5-pro'), undefined);
  assert.is(priceFor('o3-pro-2025-06-10'), undefined);
  assert.is(priceFor('gpt-4o-audio-preview'), undefined);
  assert.is(priceFor('local-7b', { local: { inputPerMTok: 1, outputPerMTok: 2 } }), undefined);
  assert.is(priceFor('gpt-4o-2024-8-6'), undefined);
});

test('a snapshot the table lists by its own name keeps its own price', () => {
  assert.equal(priceFor('gpt-4o-2024-05-13'), { inputPerMTok: 5, outputPerMTok: 15 });
  assert.equal(priceFor('o3-2025-04-16'), defaultPrices.o3);
});

test("a gateway's openai/ name is priced as the OpenAI model it names", () => {
  assert.equal(priceFor('openai/gpt-4o-mini'), defaultPrices['gpt-4o-mini']);
  assert.equal(priceFor('openai/gpt-4o-2024-08-06'), defaultPrices['gpt-4o']);
  // Other providers' models are not OpenAI's, whatever they are called; and a table entry for the full name wins.
  assert.is(priceFor('azure-eu/gpt-4o'), undefined);
  assert.is(priceFor('openai/o3-pro'), undefined);
  assert.is(priceFor('openai/'), undefined);
  assert.equal(priceFor('openai/gpt-4o', { 'openai/gpt-4o': { inputPerMTok: 3, outputPerMTok: 11 }, 'gpt-4o': { inputPerMTok: 2.5, outputPerMTok: 10 } }), { inputPerMTok: 3, outputPerMTok: 11 });
});

test('cost is tokens times price per million', () => {
  const cost = costOf({ inputTokens: 2_000_000, outputTokens: 500_000 }, { inputPerMTok: 2.5, outputPerMTok: 10 });
  assert.ok(Math.abs(cost - 10) < 1e-9, `expected 10, got ${cost}`);
  assert.is(costOf({ inputTokens: 0, outputTokens: 0 }, { inputPerMTok: 2.5, outputPerMTok: 10 }), 0);
});

test.run();
