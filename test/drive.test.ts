import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chooseModel } from '../src/cli/drive.ts';
import type { AgentModule } from '../src/cli/loadAgent.ts';
import { defineAgent, ModelCallError } from '../src/index.ts';
import type { ModelPort } from '../src/index.ts';
import { rejection } from './fixtures/helpers.ts';

test('the scripted model of a module names its model in errors and fails at once past the end of its script', async () => {
  const module: AgentModule = { agent: defineAgent({ name: 'a' }), script: [], path: 'agent.ts' };
  const { model, server } = await chooseModel(module, { scripted: true, quiet: true });
  try {
    const error = (await rejection((model as ModelPort).complete({ messages: [{ role: 'user', content: 'hi' }], tools: [] }))) as ModelCallError;
    assert.instance(error, ModelCallError);
    assert.match(error.message, '(model scripted)');
    assert.not.match(error.message, '[redacted]');
    assert.match(error.message, 'the script has no step #1');
    assert.is(server!.requests.length, 1);
  } finally {
    await server?.close();
  }
});

test.run();
