import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { delay, timerAt } from '../src/delay.ts';

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

test('timerAt fires at its time, not at once when that is further off than a timer can wait', async () => {
  let fired = 0;
  const far = timerAt(Date.now() + 30 * 24 * 3600 * 1000, () => fired++);
  const soon = await new Promise<number>((resolve) => timerAt(Date.now() + 5, () => resolve(fired)));
  assert.is(soon, 0, 'the 30-day timer has not fired');
  far.cancel();
  let cancelled = 0;
  timerAt(Date.now() + 1, () => cancelled++).cancel();
  await delay(10);
  assert.is(cancelled, 0, 'a cancelled timer never fires');
});

test.run();
