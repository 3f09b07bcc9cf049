import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { setup } from 'xstate';
import { z } from 'zod';
import { agentMachine, createOpenAIModel, defineAgent, defineTool, startRun, UserError } from '../src/index.ts';
import type { Agent, AgentInput, AgentOutput } from '../src/index.ts';
import { withOwnSettings } from '../src/runtime/provideAgent.ts';
import { scriptedModel, startScriptedServer, type Script } from '../src/testing/index.ts';

/** A machine of the user's own that invokes `child` with the input `pass` makes from its own input. */
function invoking(child: Agent, pass: (input: AgentInput) => AgentInput, limits?: { timeoutMs: number }) {
  const machine = setup({
    types: { input: {} as AgentInput, context: {} as { input: AgentInput }, output: {} as AgentOutput },
    actors: { child: agentMachine },
  }).createMachine({
    id: 'host',
    context: ({ input }) => ({ input }),
    initial: 'working',
    states: {
      working: { invoke: { id: 'child', src: 'child', input: ({ context }) => pass(context.input), onDone: { target: 'done', actions: ({ event }) => void (output = event.output) } } },
      done: { type: 'final' },
    },
    output: () => output!,
  });
  let output: AgentOutput | undefined;
  return defineAgent({ name: 'host', machine, agents: { child }, ...(limits ? { limits } : {}) });
}

const note = defineTool({ name: 'note', description: 'Take a note.', parameters: z.object({ text: z.string() }), execute: () => 'noted' });
const forever: Script = (index) => ({ toolCalls: [{ id: `n${index}`, name: 'note', arguments: { text: 'again' } }] });

test("an invoked agent runs within its own step limit even when the input passes the host's looser one", async () => {
  const child = defineAgent({ name: 'child', tools: [note], limits: { maxSteps: 2 } });
  const host = invoking(child, (input) => ({ ...input, runId: `${input.runId}/child` }));
  const result = await startRun(host, { input: 'go', model: scriptedModel(forever) }).result;
  assert.is(result.status, 'halted');
  assert.is(result.reason, 'step_limit');
  assert.is(result.steps, 2);
});

test('the host can tighten an invoked agent\u2019s limits, never loosen them', () => {
  const child = defineAgent({ name: 'child', limits: { maxSteps: 5, maxTokens: 1000 } });
  const input: AgentInput = { runId: 'r', limits: { maxSteps: 3, maxTokens: 5000, maxCostUsd: 0.5, deadlineAt: 42 } };
  assert.equal(withOwnSettings(child, input).limits, { maxSteps: 3, maxTokens: 1000, maxCostUsd: 0.5, deadlineAt: 42 });
});

test('an invoked agent given no instructions or approval settings uses its own', async () => {
  const publish = defineTool({ name: 'publish', description: 'Publish.', parameters: z.object({}), needsApproval: true, execute: () => 'published' });
  const child = defineAgent({ name: 'child', instructions: 'Publish once.', tools: [publish], approval: { timeoutMs: 20, onTimeout: 'approve' } });
  const seen: string[] = [];
  const model = scriptedModel([
    (request) => {
      seen.push(request.messages[0]!.role === 'system' ? request.messages[0]!.content : '(no system message)');
      return { toolCalls: [{ id: 'p1', name: 'publish', arguments: {} }] };
    },
    { content: 'Done.' },
  ]);
  const host = invoking(child, (input) => ({ runId: `${input.runId}/child`, input: input.input, limits: input.limits }));
  const run = startRun(host, { input: 'go', model });
  // Without its own approval deadline the call would wait for a person forever.
  const timer = setTimeout(() => run.cancel('its approval deadline never came'), 3000);
  const result = await run.result.finally(() => clearTimeout(timer));
  assert.is(result.status, 'done', JSON.stringify(result));
  assert.equal(seen, ['Publish once.'], 'its instructions are its system message');
  model.assertDone();
});

test('a cost budget on an invoked agent is refused at start when the model it will call has no price', () => {
  const child = defineAgent({ name: 'child', limits: { maxCostUsd: 1 } });
  const host = invoking(child, (input) => input);
  assert.throws(
    () => startRun(host, { input: 'go', model: scriptedModel([{ content: 'x' }]) }),
    (error: unknown) => error instanceof UserError && /Agent "child" has a cost budget of \$1 but model "scripted" has no known price/.test((error as Error).message),
  );
});

test('a cost budget the host passes to an invoked agent whose model has no price fails the run before the model is called', async () => {
  const child = defineAgent({ name: 'child' });
  const host = invoking(child, (input) => ({ ...input, runId: `${input.runId}/child`, limits: { ...input.limits, maxCostUsd: 0.5 } }));
  const model = scriptedModel([{ content: 'spent' }]);
  const result = await startRun(host, { input: 'go', model }).result;
  assert.is(result.status, 'failed');
  assert.is(result.error?.name, 'UserError');
  assert.match(result.error?.message ?? '', /Agent "child" has a cost budget of \$0.5 but model "scripted" has no known price/);
  assert.is(model.calls.length, 0, 'no tokens were spent that the budget could not count');
});

test('an invoked agent that names a model calls that model on the run\u2019s endpoint', async () => {
  const server = await startScriptedServer([{ content: 'Small answer.' }]);
  try {
    const child = defineAgent({ name: 'child', model: 'small-model' });
    const host = invoking(child, (input) => ({ ...input, runId: `${input.runId}/child` }));
    const result = await startRun(host, { input: 'go', model: createOpenAIModel({ baseURL: server.url, apiKey: 'test', model: 'big-model' }) }).result;
    assert.is(result.status, 'done', JSON.stringify(result.error));
    assert.equal(server.requests.map((request) => (request.body as { model: string }).model), ['small-model']);
  } finally {
    await server.close();
  }
});

test('a model name on an invoked agent is refused at start when the run\u2019s port cannot switch models', () => {
  const host = invoking(defineAgent({ name: 'child', model: 'small-model' }), (input) => input);
  assert.throws(
    () => startRun(host, { input: 'go', model: scriptedModel([{ content: 'x' }]) }),
    (error: unknown) => error instanceof UserError && /Agent "child" names model "small-model", but the run's model port .* cannot switch models/.test((error as Error).message),
  );
});

test("the run's deadline, passed in an invoked agent's input, halts that agent when it passes", async () => {
  const child = defineAgent({ name: 'child', tools: [note], limits: { maxSteps: 1000 } });
  const host = invoking(child, (input) => ({ ...input, runId: `${input.runId}/child` }), { timeoutMs: 60 });
  const slow: Script = (index) => ({ toolCalls: [{ id: `n${index}`, name: 'note', arguments: { text: 'again' } }], delayMs: 20 });
  const run = startRun(host, { input: 'go', model: scriptedModel(slow) });
  const timer = setTimeout(() => run.cancel('the deadline never came'), 3000);
  const result = await run.result.finally(() => clearTimeout(timer));
  assert.is(result.status, 'halted', JSON.stringify(result));
  assert.is(result.reason, 'deadline');
});

test.run();
