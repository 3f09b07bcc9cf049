import { createInspector } from '@statelyai/inspect';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { InspectionEvent } from 'xstate';
import { z } from 'zod';
import { defineAgent, defineTool, MemoryStore, startRun } from '../src/index.ts';
import { mapCredentials } from '../src/credentials/credentialsProvider.ts';
import { scriptedModel } from '../src/testing/index.ts';

/** Collects the process warnings of one kind emitted while `work` runs (and the tick after it). */
async function warningsDuring(name: string, work: () => Promise<void>): Promise<Error[]> {
  const seen: Error[] = [];
  const listener = (warning: Error) => warning.name === name && seen.push(warning);
  process.on('warning', listener);
  try {
    await work();
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    process.off('warning', listener);
  }
  return seen;
}

const greeter = () => defineAgent({ name: 'greeter', model: scriptedModel([{ content: 'hi' }]) });

test('an inspect observer that throws on its first event neither makes startRun throw nor fails the run, and is reported once', async () => {
  let calls = 0;
  const warnings = await warningsDuring('StatecraftObserverWarning', async () => {
    const run = startRun(greeter(), {
      input: 'go',
      inspect: () => {
        calls++;
        throw new Error('observer bug');
      },
    });
    const result = await run.result;
    assert.is(result.status, 'done');
    assert.is(result.output, 'hi');
  });
  assert.ok(calls > 1, 'the observer still receives the events after the first');
  assert.is(warnings.length, 1, 'reported once');
  assert.match(warnings[0]!.message, /inspect observer of run .* threw on its '@xstate\.actor' event: observer bug/);
});

test('an observer object that throws later in the run does not fail it either', async () => {
  let seen = 0;
  const warnings = await warningsDuring('StatecraftObserverWarning', async () => {
    const run = startRun(greeter(), {
      input: 'go',
      inspect: {
        next: () => {
          if (++seen >= 5) throw new TypeError('cannot read what is not there');
        },
      },
    });
    assert.is((await run.result).status, 'done');
  });
  assert.is(warnings.length, 1);
  assert.match(warnings[0]!.message, /cannot read what is not there/);
});

test('an async observer or listener whose promise rejects is reported, and the run and the process go on', async () => {
  const warnings = await warningsDuring('StatecraftObserverWarning', async () => {
    const listened = await warningsDuring('StatecraftListenerWarning', async () => {
      const run = startRun(greeter(), {
        input: 'go',
        inspect: async () => {
          throw new Error('observer rejected');
        },
        onEvent: async (event) => {
          if (event.type === 'end') throw new Error('listener rejected');
        },
      });
      assert.is((await run.result).status, 'done');
      await new Promise((resolve) => setTimeout(resolve, 20));
    });
    assert.is(listened.length, 1);
    assert.match(listened[0]!.message, /listener of run .* threw on its 'end' event: listener rejected/);
  });
  assert.is(warnings.length, 1);
  assert.match(warnings[0]!.message, /observer rejected/);
});

const CANARY = 'sk-canary-5Tq8wPz2Lm7Xv4Rb9Kd1';

test('the inspect observer sees no secret the log does not: events, snapshots, and snapshots read later from actor refs', async () => {
  const deploy = defineTool({
    name: 'deploy',
    description: 'Deploy with the token.',
    parameters: z.object({}),
    secrets: ['token'],
    execute: async (_args, ctx) => `deployed (token of ${(await ctx.secrets.get('token')).length} characters)`,
  });
  const echo = defineTool({ name: 'echo', description: 'Echo.', parameters: z.object({ text: z.string() }), execute: ({ text }) => text });
  // Once the tool has read the secret, the model (which may have it from elsewhere) repeats it.
  const model = scriptedModel([
    { toolCalls: [{ id: 'd', name: 'deploy', arguments: {} }] },
    { toolCalls: [{ id: 'e', name: 'echo', arguments: { text: `the token is ${CANARY}` } }] },
    { content: `Done; the token was ${CANARY}.` },
  ]);
  const agent = defineAgent({ name: 'deployer', model, tools: [deploy, echo], secrets: ['token'], credentials: mapCredentials({ token: CANARY }) });
  const events: InspectionEvent[] = [];
  const sent: unknown[] = [];
  const stately = createInspector({ send: (event) => sent.push(event) });
  const store = new MemoryStore();
  const run = startRun(agent, {
    input: 'deploy',
    store,
    inspect: (event) => {
      events.push(event);
      stately.inspect.next?.(event);
    },
  });
  assert.is((await run.result).status, 'done');
  await new Promise((resolve) => setTimeout(resolve, 100)); // the Stately adapter sends when the event loop is idle

  const log = JSON.stringify(await store.read(run.runId));
  assert.ok(log.includes('[redacted:token]'), 'the log redacts the secret the model repeated');
  assert.not.ok(log.includes(CANARY), 'and holds it nowhere');
  assert.ok(events.some((event) => event.type === '@xstate.snapshot'), 'the observer saw the run');
  const texts = {
    events: JSON.stringify(events),
    'snapshots at each event': JSON.stringify(events.map((event) => ('snapshot' in event ? event.snapshot : null))),
    'snapshots read from actor refs after the run': JSON.stringify(events.map((event) => event.actorRef.getSnapshot())),
    'what the Stately adapter sends': JSON.stringify(sent),
  };
  assert.ok(texts['what the Stately adapter sends'].includes('[redacted:token]'), 'the adapter sent the redacted conversation');
  for (const [where, text] of Object.entries(texts)) assert.not.ok(text.includes(CANARY), `${where} hold the secret`);
  stately.stop();
});

test('the copies an observer receives behave as XState\u2019s: ids, parents, snapshot methods', async () => {
  const events: InspectionEvent[] = [];
  const run = startRun(greeter(), { input: 'go', inspect: (event) => events.push(event) });
  await run.result;
  const root = events.filter((event) => event.type === '@xstate.snapshot' && event.actorRef.sessionId === event.rootId);
  const last = root.at(-1) as InspectionEvent & { snapshot: { matches(state: string): boolean; status: string } };
  assert.is(last.snapshot.status, 'done');
  assert.ok(last.snapshot.matches('done'), 'matches() works on the copy');
  const child = events.find((event) => event.actorRef.sessionId !== event.rootId)!;
  const parent = (child.actorRef as unknown as { _parent?: { sessionId: string } })._parent;
  assert.is(parent?.sessionId, child.rootId, 'an invoked actor names its parent');
  assert.is(events.find((event) => event.actorRef.sessionId === child.actorRef.sessionId && event !== child)?.actorRef, child.actorRef, 'one stand-in per actor');
});

test.run();
