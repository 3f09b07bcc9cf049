import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { z } from 'zod';
import { costOf, defineAgent, defineTool, importRun, MemoryStore, priceFor, replayRun, stateAt } from '../src/index.ts';
import type { AgentContext, ModelTurn } from '../src/index.ts';
import { tokensText } from '../src/cli/tokensText.ts';
import { scriptedModel } from '../src/testing/index.ts';

// A run recorded before usage counted cached input and reasoning tokens (see test/fixtures/logs/README.md).
const text = readFileSync(resolve(import.meta.dirname, 'fixtures/logs/priced-agent-run.jsonl'), 'utf8');
const runId = 'fixture-priced-1';

const add = defineTool({
  name: 'add',
  description: 'Add two numbers.',
  parameters: z.object({ a: z.number(), b: z.number() }),
  execute: ({ a, b }) => ({ sum: a + b }),
});

const loaded = async () => {
  const store = new MemoryStore();
  const summary = await importRun(store, text);
  return { store, summary };
};

test('an old run reads with the usage and cost it was recorded with', async () => {
  const { store, summary } = await loaded();
  assert.is(summary.status, 'done');
  assert.is(summary.inputTokens, 2500);
  assert.is(summary.outputTokens, 52);
  const { context } = (await stateAt(store, runId, summary.lastSeq)) as unknown as { context: AgentContext };
  assert.equal(context.usage, { inputTokens: 2500, outputTokens: 52 });
  assert.is(tokensText(context.usage), '2,552 tokens');
  assert.ok(Math.abs(context.costUsd - 0.0004062) < 1e-12, String(context.costUsd));
});

test("an old run's turns price today as they were priced when recorded", async () => {
  const { store } = await loaded();
  const turns = (await store.read(runId))
    .filter((record) => record.event.type === 'xstate.done.actor.callModel')
    .map((record) => (record.event as unknown as { output: ModelTurn }).output);
  assert.is(turns.length, 2);
  for (const turn of turns) {
    assert.is(turn.usage.cachedInputTokens, undefined);
    const price = priceFor(turn.model);
    assert.ok(price, `${turn.model} has a price`);
    assert.ok(Math.abs(costOf(turn.usage, price) - turn.costUsd) < 1e-12, `${turn.model}: ${costOf(turn.usage, price)} today, ${turn.costUsd} recorded`);
  }
});

test('an old run replays with the code of today, patch for patch', async () => {
  const { store } = await loaded();
  const model = scriptedModel([], { model: 'gpt-4o-mini' });
  const agent = defineAgent({ name: 'priced-calc', version: '1', instructions: 'Add.', tools: [add], model, limits: { maxSteps: 5, maxCostUsd: 1 } });
  const report = await replayRun(agent, runId, { store });
  assert.ok(report.ok, JSON.stringify(report.divergence));
  assert.is(report.divergence, undefined);
  assert.ok(report.replayed > 0);
});

test.run();
