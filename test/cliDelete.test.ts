// statecraft delete: says what would go, deletes only with --yes, and deletes nothing when an id is wrong.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { defineAgent, openStore, runAgent } from '../src/index.ts';
import { scriptedModel } from '../src/testing/index.ts';
import { cliIn } from './fixtures/cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'statecraft-cli-delete-'));
const { storeUrl, statecraft } = cliIn(dir);

const runIds = async () => {
  const store = openStore(storeUrl);
  try {
    return (await store.listRuns()).map((run) => run.runId).sort();
  } finally {
    await store.close();
  }
};

test.before(async () => {
  const store = openStore(storeUrl);
  const agent = defineAgent({ name: 'short', model: scriptedModel([{ content: 'one' }, { content: 'two' }, { content: 'three' }]) });
  for (const runId of ['keep0001', 'gone0001', 'gone0002']) await runAgent(agent, 'go', { store, runId });
  await store.close();
});

test.after(() => rmSync(dir, { recursive: true, force: true }));

test('without --yes nothing is deleted; the runs that would go are listed', async () => {
  const dry = await statecraft(['delete', 'gone0001', 'gone0002']);
  assert.is(dry.code, 0, dry.out);
  assert.match(dry.out, 'Would delete gone0001 (short, done, ');
  assert.match(dry.out, 'Would delete gone0002');
  assert.match(dry.out, 'run the command again with --yes');
  assert.equal(await runIds(), ['gone0001', 'gone0002', 'keep0001']);
});

test('an unknown id among several deletes nothing', async () => {
  const wrong = await statecraft(['delete', 'gone0001', 'nope0001', '--yes']);
  assert.is.not(wrong.code, 0);
  assert.match(wrong.out, 'Run "nope0001" was not found');
  assert.equal(await runIds(), ['gone0001', 'gone0002', 'keep0001']);
});

test('with --yes the runs and their records go, by whole id or its start, and the others stay', async () => {
  const done = await statecraft(['delete', 'gone0001', 'gone0002', '--yes']);
  assert.is(done.code, 0, done.out);
  assert.match(done.out, 'Deleted gone0001');
  assert.match(done.out, 'Deleted gone0002');
  assert.equal(await runIds(), ['keep0001']);
  const history = await statecraft(['history', 'gone0001']);
  assert.match(history.out, 'Run "gone0001" was not found');
  const kept = await statecraft(['history', 'keep']);
  assert.is(kept.code, 0, kept.out);
});

test.run();
