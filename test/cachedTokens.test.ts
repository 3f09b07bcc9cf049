import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { z } from 'zod';
import { costOf, createOpenAIModel, defineAgent, defineTool, MemoryStore, priceFor, runAgent, stateAt } from '../src/index.ts';
import type { AgentContext, ModelTurn } from '../src/index.ts';
import { startScriptedServer } from '../src/testing/index.ts';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '..');
const cli = resolve(root, 'bin/statecraft.js');
const tmp = mkdtempSync(join(tmpdir(), 'statecraft-cached-'));

const add = defineTool({
  name: 'add',
  description: 'Add two numbers.',
  parameters: z.object({ a: z.number(), b: z.number() }),
  execute: ({ a, b }) => ({ sum: a + b }),
});

// Turn 1 reads most of its prompt from the cache and thinks before it calls a tool; turn 2 answers.
const script = () => [
  { toolCalls: [{ id: 'c1', name: 'add', arguments: { a: 2, b: 3 } }], usage: { inputTokens: 1000, cachedInputTokens: 800, outputTokens: 500, reasoningTokens: 300 } },
  { content: 'The sum is 5.', usage: { inputTokens: 1100, outputTokens: 200 } },
];

const close = (actual: number, expected: number) => assert.ok(Math.abs(actual - expected) < 1e-12, `expected ${expected}, got ${actual}`);

for (const stream of [true, false]) {
  test(`cached input and reasoning tokens reach the run's usage and its cost through the openai client (${stream ? 'streamed' : 'one body'})`, async () => {
    const server = await startScriptedServer(script());
    try {
      const price = priceFor('gpt-4o-mini')!;
      assert.ok(price.cachedInputPerMTok !== undefined && price.cachedInputPerMTok < price.inputPerMTok, 'the catalogue prices cached input lower');
      const first = { inputTokens: 1000, cachedInputTokens: 800, outputTokens: 500, reasoningTokens: 300 };
      const second = { inputTokens: 1100, outputTokens: 200 };
      const firstCost = costOf(first, price);
      const uncachedCost = costOf({ inputTokens: 1000, outputTokens: 500 }, price);
      // A budget between the two: counted without the cache discount, turn 1 would halt the run; counted
      // with it, the run goes on to turn 2, whose cost then reaches the budget (checked before the answer is taken).
      const maxCostUsd = (firstCost + uncachedCost) / 2;
      const model = createOpenAIModel({ baseURL: server.url, apiKey: 'test', model: 'gpt-4o-mini', stream });
      const agent = defineAgent({ name: 'calc', instructions: 'Add.', tools: [add], model, limits: { maxCostUsd } });
      const store = new MemoryStore();
      const result = await runAgent(agent, 'What is 2+3?', { store });
      assert.is(result.steps, 2, result.detail);
      assert.is(result.reason, 'cost_budget');
      assert.match(result.detail, `spent of $${maxCostUsd}`);
      assert.equal(result.usage, { inputTokens: 2100, outputTokens: 700, cachedInputTokens: 800, reasoningTokens: 300 });
      close(result.costUsd, firstCost + costOf(second, price));
      // Reasoning tokens are part of the output: counting them again would cost more than this.
      close(firstCost, ((1000 - 800) * price.inputPerMTok + 800 * price.cachedInputPerMTok! + 500 * price.outputPerMTok) / 1e6);

      const summary = await store.summary(result.runId);
      const { context } = (await stateAt(store, result.runId, summary.lastSeq)) as unknown as { context: AgentContext };
      assert.equal(context.usage, result.usage, 'the recorded state holds the same usage');
      close(context.costUsd, result.costUsd);
      const turns = (await store.read(result.runId)).filter((record) => record.event.type === 'xstate.done.actor.callModel');
      const recorded = turns.map((record) => (record.event as unknown as { output: ModelTurn }).output);
      assert.equal(recorded.map((turn) => turn.usage), [first, second], 'each turn records its own usage as reported');
      close(recorded[0]!.costUsd, firstCost);
      server.assertDone();
    } finally {
      await server.close();
    }
  });
}

test('statecraft run prints cached and reasoning tokens, priced from --prices, and show prints them again', async () => {
  const prices = join(tmp, 'prices.json');
  // Round prices, so that the expected cost is exact: (200 × 1 + 800 × 0.5 + 500 × 4 + 1100 × 1 + 200 × 4) / 1e6.
  writeFileSync(prices, JSON.stringify({ models: { 'gpt-4o-mini': { inputPerMTok: 1, cachedInputPerMTok: 0.5, outputPerMTok: 4 } } }));
  const agentFile = join(tmp, 'agent.ts');
  writeFileSync(join(tmp, 'package.json'), '{"type": "module"}\n');
  symlinkSync(join(root, 'node_modules'), join(tmp, 'node_modules'), 'dir');
  writeFileSync(
    agentFile,
    `import { defineAgent, defineTool } from ${JSON.stringify(join(root, 'src/index.ts'))};\nimport { z } from 'zod';\n` +
      `const add = defineTool({ name: 'add', description: 'Add.', parameters: z.object({ a: z.number(), b: z.number() }), execute: ({ a, b }) => ({ sum: a + b }) });\n` +
      `export const agent = defineAgent({ name: 'calc', tools: [add], limits: { maxCostUsd: 1 } });\n` +
      `export const script = ${JSON.stringify(script())};\nexport const scriptModel = 'gpt-4o-mini';\n`,
  );
  const store = `sqlite:${join(tmp, 'runs.db')}`;
  const env = { ...process.env, OPENAI_API_KEY: '', OPENAI_BASE_URL: '', NO_COLOR: '1', STATECRAFT_PRICES: '' };
  const { stdout } = await run(process.execPath, [cli, 'run', agentFile, '--input', 'What is 2+3?', '--prices', prices, '--store', store], { cwd: root, env });
  assert.match(stdout, /done · final_answer · 2 steps · 2,800 tokens \(800 cached, 300 reasoning\) · \$0\.0045 · [\d.]+ s\n/);
  const runs = await run(process.execPath, [cli, 'runs', '--json', '--store', store], { cwd: root, env });
  const { runId, costUsd } = (JSON.parse(runs.stdout) as Array<{ runId: string; costUsd: number }>)[0]!;
  close(costUsd, 0.0045);
  const shown = await run(process.execPath, [cli, 'show', runId, '--store', store], { cwd: root, env });
  assert.match(shown.stdout, 'step 2 of 20 · 2,800 tokens (800 cached, 300 reasoning) · $0.0045');
  const history = await run(process.execPath, [cli, 'history', runId, '--store', store], { cwd: root, env });
  assert.match(history.stdout, '1000+500 tokens (800 cached, 300 reasoning)');
});

test('statecraft run refuses a price file that cannot be used, saying which and what to do', async () => {
  // A store of its own: the default one is in the working directory, the checkout, which other tests share.
  const env = { ...process.env, OPENAI_API_KEY: '', OPENAI_BASE_URL: '', STATECRAFT_PRICES: '', STATECRAFT_STORE: `sqlite:${join(tmp, 'refused.db')}` };
  const attempt = (args: string[], extra: Record<string, string> = {}) =>
    run(process.execPath, [cli, 'run', 'examples/demo/agent.ts', ...args], { cwd: root, env: { ...env, ...extra }, timeout: 30_000 }).then(
      () => ({ code: 0 as number | null, stderr: '' }),
      (error: { code: number | null; stderr: string }) => error,
    );
  const missing = await attempt(['--prices', join(tmp, 'absent.json')]);
  assert.is(missing.code, 2, missing.stderr);
  assert.match(missing.stderr, /absent\.json \(--prices\) does not exist/);
  assert.match(missing.stderr, 'or leave out --prices');
  const bad = join(tmp, 'bad.json');
  writeFileSync(bad, JSON.stringify({ models: { m: { inputPerMTok: 'cheap', outputPerMTok: 1 } } }));
  const badField = await attempt([], { STATECRAFT_PRICES: bad });
  assert.is(badField.code, 2, badField.stderr);
  assert.match(badField.stderr, 'models.m.inputPerMTok must be a finite number >= 0, found "cheap"');
  assert.match(badField.stderr, 'or unset STATECRAFT_PRICES');
  // Refused before anything is written: neither way of naming a bad price file creates the store.
  assert.not.ok(existsSync(join(tmp, 'refused.db')), 'the store was created before the price file was refused');
});

test.run();
