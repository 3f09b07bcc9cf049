// The service's in-process executor: runs that come to wait are let go, and a decision reaches the
// run whether it is still held, being let go, or only in the store.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { z } from 'zod';
import { createOpenAIModel, defineAgent, defineTool } from '../src/index.ts';
import { openStore } from '../src/log/stores/openStore.ts';
import type { RunStore } from '../src/log/stores/runStore.ts';
import { InProcessExecutor } from '../src/service/execution/InProcessExecutor.ts';
import { startScriptedServer } from '../src/testing/index.ts';
import { rejection } from './fixtures/helpers.ts';

const sent: string[] = [];
const send = defineTool({ name: 'send', description: 'Send.', parameters: z.object({ to: z.string() }), needsApproval: true, execute: ({ to }) => (sent.push(to), `sent to ${to}`) });

/** A store whose appends can be held back, as a slow database holds them. */
function gated(store: RunStore) {
  let open: Promise<void> = Promise.resolve();
  let release = () => {};
  const wrapped = new Proxy(store, {
    get(target, name, receiver) {
      if (name === 'append') return async (...args: Parameters<RunStore['append']>) => (await open, target.append(...args));
      const value = Reflect.get(target, name, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return {
    store: wrapped,
    hold: () => void (open = new Promise<void>((resolve) => (release = resolve))),
    release: () => release(),
  };
}

async function setup() {
  const model = await startScriptedServer((_index, request) => (request.messages.at(-1)?.role === 'tool' ? { content: 'Sent.' } : { toolCalls: [{ name: 'send', arguments: { to: (request.messages.at(-1)?.content as string) ?? '' } }] }));
  const agent = defineAgent({ name: 'sender', tools: [send], model: createOpenAIModel({ baseURL: model.url, apiKey: 'test', model: 'gpt-4o-mini' }) });
  const store = openStore(`sqlite:${join(mkdtempSync(join(tmpdir(), 'statecraft-executor-')), 'runs.db')}`);
  const gate = gated(store);
  const executor = new InProcessExecutor(gate.store, [{ agent }]);
  return { store, gate, executor, close: async () => (await executor.close(1000), await store.close(), await model.close()) };
}

async function settled(store: ReturnType<typeof openStore>, runId: string) {
  for (let i = 0; i < 400; i++) {
    const summary = await store.summary(runId);
    if (['done', 'failed', 'cancelled'].includes(summary.status)) return summary;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error('the run did not end');
}

for (const when of ['while the run is held', 'while it is being let go', 'once only the store has it'] as const) {
  test(`a decision made ${when} is recorded and the run ends`, async () => {
    const { store, gate, executor, close } = await setup();
    try {
      const to = `ops-${when.length}`;
      const decided = new Promise<void>((resolve, reject) => {
        const off = executor.subscribe((event) => {
          if (event.type !== 'approval.requested') return;
          off();
          const [call] = event.calls;
          const decide = () => executor.decide(event.runId, { kind: 'approve', callId: call!.id, argsHash: call!.argsHash!, by: 'tester' }).then(resolve, reject);
          // The executor lets a waiting run go on the next turn of the event loop, after its listeners.
          if (when === 'while the run is held') void decide();
          else if (when === 'while it is being let go') {
            // Letting the run go waits for its last records, held back here until the decision was sent.
            gate.hold();
            setImmediate(() => setImmediate(() => (void decide(), gate.release())));
          }
          else void store.summary(event.runId).then(async function wait(): Promise<void> {
            if ((await store.summary(event.runId)).owner) return new Promise((r) => setTimeout(r, 20)).then(wait);
            await decide();
          });
        });
      });
      await executor.start({ runId: `run-${when.length}`, agentId: 'sender', input: to, labels: {} });
      await decided;
      const summary = await settled(store, `run-${when.length}`);
      assert.is(summary.status, 'done');
      assert.equal(sent.filter((target) => target === to), [to], 'the call ran once');
      const approvals = (await store.readHistory(`run-${when.length}`)).filter((entry) => entry.eventType === 'APPROVE');
      assert.is(approvals.length, 1);
      assert.is(approvals[0]!.event.by, 'tester');
    } finally {
      await close();
    }
  });
}

test('a decision on a run that waits for nothing, or for an unknown agent, is refused and changes nothing', async () => {
  const { store, executor, close } = await setup();
  try {
    const error = await rejection(executor.start({ runId: 'nobody', agentId: 'writer', input: 'x', labels: {} }));
    assert.match((error as Error).message, /No agent "writer" is served here; agents served: sender/);
    await executor.start({ runId: 'r1', agentId: 'sender', input: 'r1', labels: {} });
    const wrong = await rejection(executor.decide('r1', { kind: 'approve', callId: 'call_9', argsHash: 'x', by: 'me' }));
    assert.match((wrong as Error).message, /no tool call call_9|not waiting|no tool call waiting/i);
  } finally {
    await close();
  }
});

test("a listener of one run hears that run's events, held here, and no other run's; a listener of all hears both", async () => {
  const { store, executor, close } = await setup();
  try {
    const heard = { a: [] as string[], all: new Set<string>() };
    executor.subscribe((event) => heard.all.add(event.runId));
    const stop = executor.subscribe((event) => heard.a.push(event.runId), 'run-a');
    await executor.start({ runId: 'run-a', agentId: 'sender', input: 'ann', labels: {} });
    await executor.start({ runId: 'run-b', agentId: 'sender', input: 'bo', labels: {} });
    assert.ok(executor.holds('run-a') || (await store.summary('run-a')).status === 'waiting', 'a started run is held until it waits');
    for (const runId of ['run-a', 'run-b']) {
      for (let i = 0; i < 400 && (await store.summary(runId)).status !== 'waiting'; i++) await new Promise((resolve) => setTimeout(resolve, 25));
    }
    stop();
    assert.ok(heard.a.length > 0);
    assert.equal([...new Set(heard.a)], ['run-a']);
    assert.equal([...heard.all].sort(), ['run-a', 'run-b']);
    assert.not.ok(executor.holds('run-c'));
  } finally {
    await close();
  }
});

test.run();
