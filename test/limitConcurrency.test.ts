import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CancelledError, UserError } from '../src/errors.ts';
import { mapWithConcurrency } from '../src/tools/limitConcurrency.ts';

const tick = (ms = 0): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

test('never runs more than the limit at once, and keeps results in item order', async () => {
  let inFlight = 0;
  let peak = 0;
  const items = [9, 1, 7, 3, 5, 2, 8, 4, 6, 0];
  const results = await mapWithConcurrency(items, 3, async (item, index) => {
    inFlight += 1;
    peak = Math.max(peak, inFlight);
    await tick(item);
    inFlight -= 1;
    return `${index}:${item}`;
  });
  assert.is(peak, 3);
  assert.is(inFlight, 0);
  assert.equal(results, items.map((item, index) => `${index}:${item}`));
});

test('a limit of one runs the items one after another', async () => {
  const order: string[] = [];
  await mapWithConcurrency(['a', 'b', 'c'], 1, async (item) => {
    order.push(`start ${item}`);
    await tick();
    order.push(`end ${item}`);
  });
  assert.equal(order, ['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
});

test('an empty list resolves to an empty array and a large limit is fine', async () => {
  assert.equal(await mapWithConcurrency([], 4, async () => 1), []);
  assert.equal(await mapWithConcurrency([1, 2], 50, async (n) => n * 10), [10, 20]);
});

test('the first failure rejects and no further item starts', async () => {
  const started: number[] = [];
  try {
    await mapWithConcurrency([0, 1, 2, 3, 4], 2, async (item) => {
      started.push(item);
      await tick();
      if (item === 1) throw new Error('item 1 failed');
      return item;
    });
    assert.unreachable('expected a rejection');
  } catch (error) {
    assert.is((error as Error).message, 'item 1 failed');
  }
  await tick(5);
  assert.ok(!started.includes(3) && !started.includes(4), `started ${started.join(',')}`);
});

test('aborting the signal rejects with CancelledError and starts nothing new', async () => {
  const controller = new AbortController();
  const started: number[] = [];
  const pending = mapWithConcurrency([0, 1, 2, 3], 1, async (item) => {
    started.push(item);
    if (item === 1) controller.abort(new Error('stop now'));
    await tick();
    return item;
  }, controller.signal);
  try {
    await pending;
    assert.unreachable('expected a rejection');
  } catch (error) {
    assert.instance(error, CancelledError);
    assert.match((error as Error).message, 'stop now');
  }
  await tick(5);
  assert.equal(started, [0, 1]);
  try {
    await mapWithConcurrency([1], 1, async () => 1, AbortSignal.abort());
    assert.unreachable('expected a rejection');
  } catch (error) {
    assert.instance(error, CancelledError);
  }
});

test('an invalid limit is a UserError', () => {
  for (const limit of [0, -1, 1.5, Number.NaN]) {
    assert.throws(() => mapWithConcurrency([1], limit, async () => 1), (e: Error) => e instanceof UserError);
  }
});

test.run();
