import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { normalize } from '../src/log/format/patch.ts';
import { persistedSnapshot } from '../src/recorder/persistedSnapshot.ts';
import { startRun } from '../src/index.ts';
import { scriptedModel } from '../src/testing/index.ts';
import * as compose from '../examples/compose/agent.ts';
import * as demo from '../examples/demo/agent.ts';

for (const [name, example] of [['demo', demo], ['compose (child agents)', compose]] as const) {
  test(`equals XState's own persisted snapshot at every transition: ${name}`, async () => {
    const run = startRun(example.agent, { input: example.input, model: scriptedModel(example.script, { model: 'scripted-demo' }) });
    const actor = (run as unknown as { actor: Parameters<typeof persistedSnapshot>[0] }).actor;
    let compared = 0;
    const check = () => {
      assert.equal(normalize(persistedSnapshot(actor)), normalize(actor.getPersistedSnapshot()));
      compared++;
    };
    run.on((event) => (event.type === 'state' || event.type === 'tool.end' || event.type === 'delta') && check());
    assert.is((await run.result).status, 'done');
    assert.ok(compared > 5);
  });
}

test('actor references in context take the JSON form XState persists them in', async () => {
  const { createActor, createMachine, fromPromise, assign } = await import('xstate');
  const machine = createMachine({
    context: { refs: [] as unknown[], plain: { deep: [1, 2] } },
    on: { SPAWN: { actions: assign({ refs: ({ context, spawn }) => [...context.refs, spawn(fromPromise(() => new Promise(() => {})), { id: 'child' })] }) } },
  });
  const actor = createActor(machine).start();
  actor.send({ type: 'SPAWN' });
  assert.equal(normalize(persistedSnapshot(actor)), normalize(actor.getPersistedSnapshot()));
  assert.equal((normalize(persistedSnapshot(actor)) as { context: { refs: unknown[] } }).context.refs, [{ xstate$$type: 1, id: 'child' }]);
  actor.stop();
});

test.run();
