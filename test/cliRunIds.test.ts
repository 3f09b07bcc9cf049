// A run named on the command line by the start of its id, as git takes commits.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { defineAgent, openStore, runAgent } from '../src/index.ts';
import { scriptedModel } from '../src/testing/index.ts';
import { cliIn } from './fixtures/cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'statecraft-cli-ids-'));
const { storeUrl, statecraft } = cliIn(dir);

test.before(async () => {
  const store = openStore(storeUrl);
  const agent = defineAgent({ name: 'short', model: scriptedModel([{ content: 'one\nand more' }, { content: 'two' }]) });
  await runAgent(agent, 'go', { store, runId: 'beef0001-aaaa' });
  await runAgent(agent, 'go', { store, runId: 'beef0002-bbbb' });
  await store.close();
});

test.after(() => rmSync(dir, { recursive: true, force: true }));

test('a command takes the start of a run id when it names exactly one run', async () => {
  const history = await statecraft(['history', 'beef0001']);
  assert.is(history.code, 0, history.out);
  assert.match(history.out, 'xstate.init');
  assert.match(history.out, 'answers: one and more', 'an answer over several lines is shown on one');
  const shown = await statecraft(['show', 'beef0002', '--at', '0']);
  assert.is(shown.code, 0, shown.out);
  assert.match(shown.out, 'run beef0002-bbbb · record 0');
  const exported = await statecraft(['export', 'beef0002-b']);
  assert.is(exported.code, 0, exported.out);
  assert.match(exported.stdout, '"runId":"beef0002-bbbb"');
});

test('the start of several run ids is refused with the runs it could mean; a start under 4 characters is refused, saying so; an unknown one is not found', async () => {
  const ambiguous = await statecraft(['history', 'beef']);
  assert.is(ambiguous.code, 2, ambiguous.out);
  assert.match(ambiguous.out, '"beef" is the start of 2 run ids');
  assert.match(ambiguous.out, 'beef0001-aaaa');
  assert.match(ambiguous.out, 'beef0002-bbbb');
  assert.match(ambiguous.out, 'give more of the id');
  const short = await statecraft(['history', 'bee']);
  assert.is(short.code, 2, short.out);
  assert.match(short.out, 'Run "bee" was not found, and the start of a run id is looked up only from 4 characters: give at least 4 characters of the id');
  const unknown = await statecraft(['history', 'cafe0001']);
  assert.match(unknown.out, 'Run "cafe0001" was not found');
});

test('runs --since takes an ISO time or an age, and says when no run matches', async () => {
  const recent = await statecraft(['runs', '--since', '1h', '--json']);
  assert.is(recent.code, 0, recent.out);
  assert.equal((JSON.parse(recent.stdout) as { runId: string }[]).map((run) => run.runId).sort(), ['beef0001-aaaa', 'beef0002-bbbb']);
  const later = await statecraft(['runs', '--since', new Date(Date.now() + 60_000).toISOString()]);
  assert.match(later.out, 'No runs match these filters.');
  const bad = await statecraft(['runs', '--since', 'yesterday']);
  assert.is(bad.code, 2);
  assert.match(bad.out, '--since takes an ISO time (2026-11-30T09:00Z) or an age (30m, 2h, 7d); found "yesterday"');
});

test('history --from, --to and --last pick records, one line each', async () => {
  const seqs = (out: string) => out.trim().split('\n').slice(1).map((line) => Number(line.split(/\s+/)[0]));
  const all = await statecraft(['history', 'beef0001-aaaa']);
  const lastSeq = Math.max(...seqs(all.stdout));
  assert.ok(lastSeq >= 1, all.out);
  assert.equal(seqs((await statecraft(['history', 'beef0001', '--last', '2'])).stdout), [lastSeq - 1, lastSeq]);
  assert.equal(seqs((await statecraft(['history', 'beef0001', '--from', '1', '--to', '1'])).stdout), [1]);
  assert.equal(seqs((await statecraft(['history', 'beef0001', '--to', '1', '--last', '1'])).stdout), [1]);
  const bad = await statecraft(['history', 'beef0001', '--from', 'x']);
  assert.is(bad.code, 2);
  assert.match(bad.out, '--from must be a record number');
  const both = await statecraft(['history', 'beef0001', '--from', '0', '--last', '1']);
  assert.match(both.out, '--last and --from both say where to start');
});

test('show says where it cut a long event or patch value, and --json shows them whole', async () => {
  const own = mkdtempSync(join(tmpdir(), 'statecraft-cli-show-'));
  const cli = cliIn(own);
  const store = openStore(cli.storeUrl);
  await runAgent(defineAgent({ name: 'long', model: scriptedModel([{ content: 'word '.repeat(200) }]) }), 'go', { store, runId: 'long0001' });
  await store.close();
  const statecraft = cli.statecraft;
  const shown = await statecraft(['show', 'long0001', '--at', '1']);
  assert.is(shown.code, 0, shown.out);
  assert.match(shown.out, /event: .*… \(\d+ more characters; --json shows all\)/);
  assert.match(shown.out, /add \/context\/messages\/\d+ .*… \(\d+ more characters; --json shows all\)/);
  const whole = await statecraft(['show', 'long0001', '--at', '1', '--json']);
  assert.match(whole.stdout, 'word '.repeat(200).trim());
  rmSync(own, { recursive: true, force: true });
});

test.run();
