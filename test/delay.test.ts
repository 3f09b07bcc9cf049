import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { delay } from '../src/delay.ts';

test('waits the full time and says so', async () => {
  assert.is(await delay(5), true);
});

test('an abort during the wait ends it early with false', async () => {
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 5);
  assert.is(await delay(60_000, controller.signal), false);
});

test('an already aborted signal ends it at once with false', async () => {
  assert.is(await delay(60_000, AbortSignal.abort()), false);
});

test.run();
