// Cancelling a run whose machine is the user's own and has no CANCEL transition (agents composed by a
// machine of their own): the work in flight is aborted and the run ends cancelled, recorded as such.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SqliteStore, startRun } from '../src/index.ts';
import type { ModelPort } from '../src/index.ts';
import { resumeRun } from '../src/runtime/resumeRun.ts';
import { pairAgent } from './fixtures/pair/agent.ts';

const dir = mkdtempSync(join(tmpdir(), 'statecraft-cancel-composed-'));

/** A model that never answers; each call ends only when its signal aborts, which is counted. */
function hangingModel() {
  const calls = { started: 0, aborted: 0 };
  const model: ModelPort = {
    info: { provider: 'test', model: 'hanging', params: {} },
    complete: ({ signal }) =>
      new Promise((_resolve, reject) => {
        calls.started++;
        signal?.addEventListener('abort', () => {
          calls.aborted++;
          reject(new Error('aborted'));
        });
      }),
  };
  return { model, calls };
}

test('cancel stops a composed run whose machine has no CANCEL transition, aborting its model calls', async () => {
  const store = new SqliteStore({ path: join(dir, 'runs.db') });
  const { model, calls } = hangingModel();
  const agent = pairAgent(() => {});
  const run = startRun(agent, { input: 'go', model, store });
  while (calls.started < 2) await new Promise((resolve) => setTimeout(resolve, 5));
  run.cancel('Enough.');
  const result = await run.result;
  assert.is(result.status, 'cancelled');
  assert.is(result.reason, 'cancelled');
  assert.is(result.detail, 'Enough.');
  assert.is(calls.aborted, 2, 'both agents\u2019 model calls were aborted');
  const summary = await store.summary(run.runId);
  assert.is(summary.status, 'cancelled', 'the store says so');
  assert.ok((await store.read(run.runId)).some((record) => record.event.type === 'statecraft.cancelled'));
  const resumed = await resumeRun(agent, run.runId, { store, model }).then(
    () => 'resumed',
    (error: Error) => error.message,
  );
  assert.match(resumed, 'already ended (cancelled');
  await store.close();
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
