// One conformance suite for every live channel (memory, the file beside a SQLite database, PostgreSQL
// LISTEN/NOTIFY), run with a publisher and a subscriber that share nothing but the store's backing,
// as two processes would; then what each backend adds (bounds, clean-up, payload limits).
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { suite, test } from 'uvu';
import * as assert from 'uvu/assert';
import { FileChannel } from '../src/log/live/fileChannel.ts';
import type { LiveChannel, LiveMessage } from '../src/log/live/liveChannel.ts';
import { MemoryChannel } from '../src/log/live/memoryChannel.ts';
import { MAX_PAYLOAD_BYTES, payloads, PostgresChannel } from '../src/log/live/postgresChannel.ts';
import { delay } from '../src/delay.ts';

const PG_URL = process.env.STATECRAFT_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const dir = mkdtempSync(join(tmpdir(), 'statecraft-live-'));

interface Pair {
  publisher: LiveChannel;
  subscriber: LiveChannel;
  dispose(): Promise<void>;
}

const harnesses: Record<string, () => Pair> = {
  memory: () => {
    const channel = new MemoryChannel();
    return { publisher: channel, subscriber: channel, dispose: () => channel.close() };
  },
  file: () => {
    const folder = join(dir, randomBytes(6).toString('hex'), 'runs.db.live');
    const publisher = new FileChannel({ dir: folder });
    const subscriber = new FileChannel({ dir: folder });
    return { publisher, subscriber, dispose: async () => void (await Promise.all([publisher.close(), subscriber.close()])) };
  },
  postgres: () => {
    const schema = `live_${randomBytes(4).toString('hex')}`;
    const publisher = new PostgresChannel({ connection: { connectionString: PG_URL }, schema });
    const subscriber = new PostgresChannel({ connection: { connectionString: PG_URL }, schema });
    return { publisher, subscriber, dispose: async () => void (await Promise.all([publisher.close(), subscriber.close()])) };
  },
};

/** Messages a subscription received, and a way to wait until some condition on them holds. */
async function received(channel: LiveChannel, runId: string) {
  const messages: LiveMessage[] = [];
  const stop = await channel.subscribe(runId, (message) => messages.push(message));
  const until = async (check: (all: LiveMessage[]) => boolean, what: string) => {
    for (let i = 0; i < 500 && !check(messages); i++) await delay(10);
    assert.ok(check(messages), `${what}; received ${JSON.stringify(messages).slice(0, 300)}`);
  };
  return { messages, stop, until };
}

const delta = (runId: string, text: string, step = 1): LiveMessage & { type: 'delta' } => ({ type: 'delta', runId, step, text });
const texts = (messages: LiveMessage[]) => messages.flatMap((message) => (message.type === 'delta' ? [message.text] : []));

function conformance(name: string, make: () => Pair) {
  const it = suite(`live channel: ${name}`);
  let pair: Pair;
  it.before.each(() => {
    pair = make();
  });
  it.after.each(() => pair.dispose());

  it('text published after subscribing arrives in order, to subscribers of that run only', async () => {
    const mine = await received(pair.subscriber, 'run-a');
    const other = await received(pair.subscriber, 'run-b');
    for (const word of ['The ', 'answer ', 'is ', '42.']) pair.publisher.publish(delta('run-a', word));
    pair.publisher.publish(delta('run-b', 'elsewhere'));
    await mine.until((all) => texts(all).join('') === 'The answer is 42.', 'the four deltas of run-a arrive');
    await other.until((all) => all.length === 1, 'run-b gets its own');
    assert.equal(texts(other.messages), ['elsewhere']);
    assert.equal(mine.messages[0], delta('run-a', 'The '));
  });

  it('a cancel request reaches the subscribers of the run', async () => {
    const owner = await received(pair.subscriber, 'run-c');
    pair.publisher.publish({ type: 'cancel', runId: 'run-c', reason: 'Cancelled from the inspector.' });
    await owner.until((all) => all.length === 1, 'the request arrives');
    assert.equal(owner.messages, [{ type: 'cancel', runId: 'run-c', reason: 'Cancelled from the inspector.' }]);
  });

  it('a long delta with text of every width arrives whole', async () => {
    const mine = await received(pair.subscriber, 'run-d');
    const text = 'é"\\\n\u0001😀 '.repeat(3000);
    pair.publisher.publish({ ...delta('run-d', text), actor: 'researcher' });
    await mine.until((all) => texts(all).join('') === text, 'all of it arrives');
    assert.ok(mine.messages.every((message) => message.type === 'delta' && message.actor === 'researcher'), 'every piece names the actor');
  });

  it('a subscriber that stopped gets nothing more, and a listener that throws does not stop the others', async () => {
    const stopped = await received(pair.subscriber, 'run-e');
    const throwing = await pair.subscriber.subscribe('run-e', () => {
      throw new Error('listener fails');
    });
    const kept = await received(pair.subscriber, 'run-e');
    pair.publisher.publish(delta('run-e', 'one'));
    await stopped.until((all) => all.length === 1, 'the first arrives');
    stopped.stop();
    pair.publisher.publish(delta('run-e', 'two'));
    await kept.until((all) => all.length === 2, 'the other subscriber gets both');
    assert.equal(texts(stopped.messages), ['one']);
    throwing();
  });

  it('the next step streams after a step ended, and a run ended can start again', async () => {
    const mine = await received(pair.subscriber, 'run-f');
    pair.publisher.publish(delta('run-f', 'step one', 1));
    await mine.until((all) => all.length === 1, 'step one');
    pair.publisher.endStep('run-f');
    pair.publisher.publish(delta('run-f', 'step two', 2));
    await mine.until((all) => all.length === 2, 'step two');
    pair.publisher.endRun('run-f');
    pair.publisher.publish(delta('run-f', 'resumed', 3));
    await mine.until((all) => all.length === 3, 'after the run ended here and was resumed');
    assert.equal(texts(mine.messages), ['step one', 'step two', 'resumed']);
  });

  it.run();
}

// Asked before any suite is registered: uvu starts running the registered suites while a top-level await waits.
const reachable = await postgresReachable();
conformance('memory', harnesses.memory!);
conformance('file', harnesses.file!);
if (reachable) conformance('postgres', harnesses.postgres!);

async function postgresReachable(): Promise<boolean> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.end();
    return true;
  } catch (error) {
    console.log(`NOTICE: PostgreSQL live channel tests skipped: cannot connect to ${PG_URL} (${(error as Error).message}).`);
    return false;
  }
}

test('the file channel keeps a step of text under its bound, and removes its files when the step and the run end', async () => {
  const folder = join(dir, 'bounded', 'runs.db.live');
  const channel = new FileChannel({ dir: folder, maxStepBytes: 4096 });
  const listener = new FileChannel({ dir: folder });
  const mine = await received(listener, 'run-g');
  for (let i = 0; i < 1000; i++) channel.publish(delta('run-g', `token ${i} `));
  channel.publish({ type: 'cancel', runId: 'run-g', reason: 'stop' });
  await mine.until((all) => all.some((message) => message.type === 'cancel'), 'the request arrives');
  await channel.close().then(() => undefined);
  const files = readdirSync(folder);
  const text = files.find((file) => file.endsWith('.text'))!;
  assert.ok(statSync(join(folder, text)).size <= 4096, `the text file holds ${statSync(join(folder, text)).size} bytes`);
  assert.ok(texts(mine.messages).length < 1000, 'what went past the bound was dropped');
  assert.equal(texts(mine.messages).slice(0, 2), ['token 0 ', 'token 1 ']);
  const again = new FileChannel({ dir: folder });
  again.publish(delta('run-g', 'more'));
  again.endStep('run-g');
  await again.close();
  assert.not.ok(existsSync(join(folder, text)), 'the step ended: its text is gone');
  assert.ok(existsSync(join(folder, text.replace('.text', '.requests'))), 'requests stay while the run runs');
  const last = new FileChannel({ dir: folder });
  last.endRun('run-g');
  await last.close();
  assert.equal(readdirSync(folder), [], 'the run ended: nothing of it is left');
  mine.stop();
  await listener.close();
});

test('PostgreSQL payloads stay under the NOTIFY limit and rejoin to the text', () => {
  const text = '\u0001'.repeat(5000) + '😀'.repeat(5000) + 'plain';
  const sent = payloads(delta('run-h', text));
  assert.ok(sent.length > 1, 'split');
  for (const payload of sent) assert.ok(Buffer.byteLength(payload) <= MAX_PAYLOAD_BYTES, `${Buffer.byteLength(payload)} bytes`);
  assert.is(sent.map((payload) => (JSON.parse(payload) as { text: string }).text).join(''), text);
  assert.equal(payloads({ type: 'cancel', runId: 'r', reason: 'x'.repeat(9000) }).length, 1);
});

test('a channel that cannot reach its server refuses subscribers and takes messages without throwing', async () => {
  const channel = new PostgresChannel({ connection: { connectionString: 'postgres://postgres@127.0.0.1:1/test', connectionTimeoutMillis: 2000 }, schema: 'nowhere' });
  channel.publish(delta('run-i', 'lost'));
  channel.endStep('run-i');
  const refused = await channel.subscribe('run-i', () => {}).then(
    () => undefined,
    (error: Error) => error,
  );
  assert.ok(refused, 'subscribe rejects');
  await channel.close();
  // A folder that cannot be made: its parent is a file.
  writeFileSync(join(dir, 'a-file'), '');
  const unwritable = new FileChannel({ dir: join(dir, 'a-file', 'runs.db.live') });
  unwritable.publish(delta('run-i', 'lost'));
  unwritable.endRun('run-i');
  await unwritable.close();
});

test.after(() => {
  rmSync(dir, { recursive: true, force: true });
});
test.run();
