import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { defineAgent, runAgent, UserError } from '../src/index.ts';
import type { AgentConfig } from '../src/index.ts';
import { scriptedModel } from '../src/testing/index.ts';

/** Defines the agent and returns the UserError it was refused with. */
function refusal(config: AgentConfig): UserError {
  try {
    defineAgent(config);
  } catch (error) {
    if (error instanceof UserError) return error;
    throw error;
  }
  throw new Error(`defineAgent accepted ${JSON.stringify(config)}`);
}

const loose = (config: Record<string, unknown>) => config as unknown as AgentConfig;

test('a price with a misspelt or missing field is refused, naming the model, the field and what to write', () => {
  const error = refusal(loose({ name: 'a', prices: { local: { inputPerMtok: 1 } } }));
  assert.match(error.message, /Agent "a"/);
  assert.match(error.message, /"local"/);
  assert.match(error.message, /inputPerMtok/);
  assert.match(error.message, /did you mean "inputPerMTok"/);
  assert.match(error.message, /outputPerMTok/);
  assert.match(error.message, /prices: \{ "local": \{ inputPerMTok: \d/);
});

test('a negative, infinite or non-numeric price is refused', () => {
  for (const bad of [-1, Infinity, Number.NaN, '1']) {
    const error = refusal(loose({ name: 'a', prices: { local: { inputPerMTok: 1, outputPerMTok: bad } } }));
    assert.match(error.message, /"local".*outputPerMTok/s, String(bad));
  }
});

test('a price that is not an object is refused', () => {
  assert.match(refusal(loose({ name: 'a', prices: { local: 3 } })).message, /"local"/);
});

test('free and well-formed prices are accepted and used', async () => {
  const model = scriptedModel([{ content: 'ok', usage: { inputTokens: 1_000_000, outputTokens: 1_000_000 } }], { model: 'local' });
  const agent = defineAgent({ name: 'a', model, limits: { maxCostUsd: 5 }, prices: { local: { inputPerMTok: 0, outputPerMTok: 2 }, free: { inputPerMTok: 0, outputPerMTok: 0 } } });
  const result = await runAgent(agent, 'go');
  assert.is(result.costUsd, 2);
});

test('count-like settings must be whole numbers, naming the field', () => {
  assert.match(refusal({ name: 'a', toolConcurrency: 1.5 }).message, /Agent "a": toolConcurrency must be a positive whole number, found 1.5/);
  assert.match(refusal({ name: 'a', limits: { maxSteps: 2.5 } }).message, /limits\.maxSteps must be a positive whole number, found 2.5/);
  assert.match(refusal({ name: 'a', limits: { maxTokens: 10.5 } }).message, /limits\.maxTokens/);
  assert.match(refusal({ name: 'a', maxToolOutputChars: 0.5 }).message, /maxToolOutputChars/);
  assert.match(refusal({ name: 'a', maxContextTokens: 100.25 }).message, /maxContextTokens/);
  assert.match(refusal({ name: 'a', limits: { maxSteps: 0 } }).message, /limits\.maxSteps/);
  assert.not.throws(() => defineAgent({ name: 'a', toolConcurrency: 2, limits: { maxSteps: 3, maxTokens: 1000, maxCostUsd: 0.5, timeoutMs: 1.5 } }));
});

test('a maxSteps given as undefined keeps the default step limit', () => {
  assert.is(defineAgent({ name: 'a', limits: { maxSteps: undefined } }).limits.maxSteps, 20);
});

test('an unknown limits key is refused with the nearest known one', () => {
  const error = refusal(loose({ name: 'a', limits: { maxStep: 3 } }));
  assert.match(error.message, /Agent "a": limits has no setting "maxStep"; did you mean "maxSteps"\?/);
  assert.match(error.message, /maxSteps, maxTokens, maxCostUsd, timeoutMs/);
});

test('unknown keys of the agent and of its approval settings are refused too', () => {
  assert.match(refusal(loose({ name: 'a', maxSteps: 3 })).message, /Agent "a" has no setting "maxSteps"; did you mean "limits: \{ maxSteps \}"\?/);
  assert.match(refusal(loose({ name: 'a', tool: [] })).message, /has no setting "tool"; did you mean "tools"\?/);
  assert.match(refusal(loose({ name: 'a', approval: { timeout: 5 } })).message, /approval has no setting "timeout"; did you mean "timeoutMs"\?/);
  assert.match(refusal(loose({ name: 'a', limits: { zzzzzzzz: 1 } })).message, /limits has no setting "zzzzzzzz"\. Known:/);
});

test.run();
