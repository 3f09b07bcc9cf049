import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { z } from 'zod';
import { defineAgent, defineFitness, defineTool, MemoryStore, replayRun, startRun, UserError } from '../src/index.ts';
import { scriptedModel } from '../src/testing/index.ts';

let failing = 0;
const tools = [
  defineTool({ name: 'edit', description: 'Edit.', parameters: z.object({ breaks: z.boolean() }), execute: ({ breaks }) => ((failing += breaks ? 1 : 0), 'edited') }),
  defineTool({ name: 'read', description: 'Read.', parameters: z.object({}), execute: () => 'text' }),
];
const testsPass = (onBreach: 'halt' | 'tell-model' | 'record') =>
  defineFitness({ name: 'tests-pass', after: ['edit'], onBreach, measure: () => ({ value: failing === 0, detail: `${failing} failing test(s)` }) });

test.before.each(() => {
  failing = 0;
});

test('a breach of a halting target stops the run, names the target, and is on record', async () => {
  const model = scriptedModel([
    { toolCalls: [{ name: 'read', arguments: {} }] },
    { toolCalls: [{ name: 'edit', arguments: { breaks: false } }] },
    { toolCalls: [{ name: 'edit', arguments: { breaks: true } }] },
  ]);
  const store = new MemoryStore();
  const agent = defineAgent({ name: 'fit', model, tools, fitness: [testsPass('halt')] });
  const run = startRun(agent, { input: 'go', store });
  const result = await run.result;
  assert.is(result.status, 'halted');
  assert.is(result.reason, 'fitness');
  assert.match(result.detail, /"tests-pass" failed \(1 failing test\(s\)\)/);
  const evaluations = (await store.read(run.runId)).filter((r) => r.event.type === 'xstate.done.actor.evaluateFitness');
  assert.equal(evaluations.map((r) => (r.event.output as { ok: boolean }[])[0]!.ok), [true, false], 'evaluated after each edit, not after the read');
  assert.ok((await replayRun(agent, run.runId, { store })).ok);
  model.assertDone();
});

test('tell-model: the model is told which target failed and the run goes on', async () => {
  const model = scriptedModel([
    { toolCalls: [{ name: 'edit', arguments: { breaks: true } }] },
    (request) => {
      assert.match(request.messages.at(-1)!.content ?? '', /Health check "tests-pass" failed after your last changes: 1 failing test/);
      failing = 0;
      return { toolCalls: [{ name: 'edit', arguments: { breaks: false } }] };
    },
    { content: 'fixed' },
  ]);
  const run = startRun(defineAgent({ name: 'fit', model, tools, fitness: [testsPass('tell-model')] }), { input: 'go' });
  const result = await run.result;
  assert.is(result.status, 'done');
  assert.equal(run.context.fitness?.['tests-pass']?.ok, true);
});

test('numeric thresholds, record-only targets and measures that throw', async () => {
  const model = scriptedModel([{ toolCalls: [{ name: 'read', arguments: {} }] }, { content: 'ok' }]);
  const agent = defineAgent({
    name: 'fit',
    model,
    tools,
    fitness: [
      defineFitness({ name: 'latency', threshold: { max: 100 }, onBreach: 'record', measure: () => 250 }),
      defineFitness({ name: 'coverage', threshold: { min: 0.8 }, onBreach: 'record', measure: () => 0.9 }),
      defineFitness({ name: 'flaky', onBreach: 'record', measure: () => { throw new Error('probe down'); } }),
    ],
  });
  const run = startRun(agent, { input: 'go' });
  assert.is((await run.result).status, 'done');
  const fitness = run.context.fitness!;
  assert.equal([fitness.latency!.ok, fitness.coverage!.ok, fitness.flaky!.ok], [false, true, false]);
  assert.match(fitness.latency!.detail, /measured 250, expected <= 100/);
  assert.match(fitness.flaky!.detail, /the measure failed: probe down/);
});

test('definitions are checked when made', () => {
  assert.throws(() => defineFitness({ name: 'x y', measure: () => true }), (e: unknown) => e instanceof UserError);
  assert.throws(() => defineFitness({ name: 'x', measure: () => true, threshold: { min: 2, max: 1 } }), /threshold.min/);
  assert.throws(() => defineFitness({ name: 'x', measure: () => true, onBreach: 'explode' as never }), /onBreach/);
  const target = defineFitness({ name: 'same', measure: () => true });
  assert.throws(() => defineAgent({ name: 'a', fitness: [target, target] }), /two fitness targets named "same"/);
});

test.run();
