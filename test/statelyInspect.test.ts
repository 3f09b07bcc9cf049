import { createInspector } from '@statelyai/inspect';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { defineAgent, startRun } from '../src/index.ts';
import { scriptedModel } from '../src/testing/index.ts';

test('a run can feed the Stately inspector through @statelyai/inspect', async () => {
  const sent: { type: string; sessionId?: string }[] = [];
  const inspector = createInspector({ send: (event) => sent.push(event as { type: string; sessionId?: string }) });
  const run = startRun(defineAgent({ name: 'watched', model: scriptedModel([{ content: 'hi' }]) }), { input: 'go', inspect: inspector.inspect });
  assert.is((await run.result).status, 'done');
  await new Promise((resolve) => setTimeout(resolve, 100)); // the adapter sends when the event loop is idle
  const types = new Set(sent.map((event) => event.type));
  assert.ok(types.has('@xstate.actor'), 'the agent actor is announced');
  assert.ok(types.has('@xstate.snapshot'), 'its snapshots are streamed');
  assert.ok(types.has('@xstate.event'), 'and the events that move it');
  inspector.stop();
});

test.run();
