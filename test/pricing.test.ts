import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { costOf, entryFor } from '../src/model/pricing.ts';
import type { Price, PriceTable } from '../src/model/pricing.ts';

const close = (actual: number, expected: number) => assert.ok(Math.abs(actual - expected) < 1e-12, `expected ${expected}, got ${actual}`);

test('an exact name wins', () => {
  assert.equal(entryFor({ local: 1, 'local-2025-01-31': 2 }, 'local-2025-01-31'), 2);
});

test('a dated snapshot is found under its model, and nothing else is', () => {
  const table: PriceTable = { local: { inputPerMTok: 1, outputPerMTok: 2 } };
  assert.equal(entryFor(table, 'local-2025-01-31'), { inputPerMTok: 1, outputPerMTok: 2 });
  assert.is(entryFor(table, 'local-7b'), undefined);
  assert.is(entryFor(table, 'local-2025-1-31'), undefined);
  assert.is(entryFor(table, 'constructor'), undefined);
});

test("a gateway's openai/ name is found under the name it gives", () => {
  const table: PriceTable = { 'gpt-4o': { inputPerMTok: 2.5, outputPerMTok: 10 } };
  assert.equal(entryFor(table, 'openai/gpt-4o-2024-08-06'), table['gpt-4o']);
  assert.is(entryFor(table, 'azure-eu/gpt-4o'), undefined);
  assert.is(entryFor(table, 'openai/'), undefined);
});

test('cost is tokens times price per million', () => {
  close(costOf({ inputTokens: 2_000_000, outputTokens: 500_000 }, { inputPerMTok: 2.5, outputPerMTok: 10 }), 10);
  assert.is(costOf({ inputTokens: 0, outputTokens: 0 }, { inputPerMTok: 2.5, outputPerMTok: 10 }), 0);
});

test('cached input tokens cost the cached rate, the rest of the input the input rate', () => {
  const price: Price = { inputPerMTok: 2.5, outputPerMTok: 10, cachedInputPerMTok: 1.25 };
  // 600,000 uncached at 2.5 + 400,000 cached at 1.25 + 100,000 out at 10.
  close(costOf({ inputTokens: 1_000_000, cachedInputTokens: 400_000, outputTokens: 100_000 }, price), 1.5 + 0.5 + 1);
  // No cached rate: cached tokens cost what input costs.
  close(costOf({ inputTokens: 1_000_000, cachedInputTokens: 400_000, outputTokens: 0 }, { inputPerMTok: 2, outputPerMTok: 8 }), 2);
  // A count above the input (a confused server) never makes the input cheaper than all cached.
  close(costOf({ inputTokens: 1_000_000, cachedInputTokens: 5_000_000, outputTokens: 0 }, price), 1.25);
});

test('reasoning tokens are part of the output and are not counted twice', () => {
  const price: Price = { inputPerMTok: 2, outputPerMTok: 8 };
  const withReasoning = costOf({ inputTokens: 0, outputTokens: 1_000_000, reasoningTokens: 700_000 }, price);
  close(withReasoning, 8);
  close(withReasoning, costOf({ inputTokens: 0, outputTokens: 1_000_000 }, price));
});

test('a long-context tier prices the whole request once its input is above the tier', () => {
  const price: Price = {
    inputPerMTok: 2.5, outputPerMTok: 15, cachedInputPerMTok: 0.25,
    tiers: [{ aboveInputTokens: 272_000, inputPerMTok: 5, outputPerMTok: 22.5, cachedInputPerMTok: 0.5 }],
  };
  close(costOf({ inputTokens: 272_000, outputTokens: 0 }, price), 0.68);
  close(costOf({ inputTokens: 300_000, cachedInputTokens: 100_000, outputTokens: 1_000 }, price), (200_000 * 5 + 100_000 * 0.5 + 1_000 * 22.5) / 1e6);
});

test.run();
