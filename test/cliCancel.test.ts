// `statecraft cancel`, and cancelling across processes: a run another process runs is asked through the
// store's live channel and records the cancel itself; a run no process holds is resumed and cancelled here.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { delay } from '../src/delay.ts';
import { SqliteStore } from '../src/log/stores/sqlite/sqliteStore.ts';
import { forkRun } from '../src/runtime/forkRun.ts';
import type { RunSummary } from '../src/log/format/record.ts';
import { cli, cliIn, root } from './fixtures/cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'statecraft-cancel-'));
const live = resolve(root, 'test/fixtures/live/agent.ts');
const approval = resolve(root, 'test/fixtures/approval/agent.ts');
const { statecraft, storeUrl, env } = cliIn(dir);
const dbPath = join(dir, 'runs.db');

/** `statecraft run` of the slow agent in a child process; resolves with its exit code when it ends. */
export function runInChild(module: string, extraEnv: Record<string, string> = {}) {
  const child = spawn(process.execPath, [cli, 'run', module, '--scripted', '--store', storeUrl], { cwd: root, env: { ...env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (chunk) => (out += chunk));
  child.stderr.on('data', (chunk) => (out += chunk));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, out: () => out };
}

/** The run the child process `pid` runs, once its summary names it. */
async function runOf(store: SqliteStore, pid: number, check: (summary: RunSummary) => boolean = () => true): Promise<RunSummary> {
  for (let i = 0; i < 600; i++) {
    const found = (await store.listRuns()).find((summary) => summary.owner?.pid === pid && check(summary));
    if (found) return found;
    await delay(50);
  }
  throw new Error(`no run of pid ${pid} found: ${JSON.stringify(await store.listRuns())}`);
}

test.after(() => rmSync(dir, { recursive: true, force: true }));

test('statecraft cancel without a run, with an unknown one or one that ended, says so and exits 2', async () => {
  const missing = await statecraft(['cancel']);
  assert.is(missing.code, 2);
  assert.match(missing.out, 'Missing the run id. Usage: statecraft cancel <run>');
  const help = await statecraft(['cancel', '--help']);
  assert.is(help.code, 0);
  assert.match(help.out, 'asked to stop\nthrough the store\'s live channel');
  const ran = await statecraft(['run', approval, '--scripted', '--approve', 'all']);
  const runId = /run ([0-9a-f-]{36})/.exec(ran.out)?.[1];
  assert.ok(runId, ran.out);
  const unknown = await statecraft(['cancel', 'nope-nope-nope']);
  assert.is(unknown.code, 2);
  assert.match(unknown.out, 'was not found', unknown.out);
  const ended = await statecraft(['cancel', runId!]);
  assert.is(ended.code, 2, ended.out);
  assert.match(ended.out, `Run ${runId} already ended (done`);
});

test('a run in another process is cancelled from a third: its own process records the cancel and exits 130', async () => {
  const store = new SqliteStore({ path: dbPath });
  const running = runInChild(live, { LIVE_MODE: 'slow' });
  const summary = await runOf(store, running.child.pid!, (found) => found.status === 'running' && found.steps === 0 && found.lastSeq >= 0);
  const cancelled = await statecraft(['cancel', summary.runId.slice(0, 8), '--reason', 'Not needed any more.']);
  assert.is(cancelled.code, 0, cancelled.out);
  assert.match(cancelled.out, `Run ${summary.runId} cancelled (recorded by pid ${running.child.pid}`);
  assert.is(await running.exited, 130, running.out());
  const after = await store.summary(summary.runId);
  assert.is(after.status, 'cancelled');
  const history = await store.readHistory(summary.runId);
  const cancel = history.find((entry) => entry.eventType === 'CANCEL');
  assert.equal(cancel?.event, { type: 'CANCEL', reason: 'Not needed any more.' }, 'recorded as Run.cancel records it');
  assert.not.ok(history.some((entry) => entry.eventType === 'statecraft.resumed'), 'the run was not resumed elsewhere');
  await store.close();
});

test('a run waiting for approval, and a fork never started, are resumed here and cancelled', async () => {
  const waiting = await statecraft(['run', approval, '--scripted', '--approve', 'wait']);
  assert.is(waiting.code, 4, waiting.out);
  const runId = /run ([0-9a-f-]{36})/.exec(waiting.out)![1]!;
  const cancelled = await statecraft(['cancel', runId]);
  assert.is(cancelled.code, 0, cancelled.out);
  assert.match(cancelled.out, `Run ${runId} cancelled (recorded here)`);
  const store = new SqliteStore({ path: dbPath });
  const types = (await store.readHistory(runId)).map((entry) => entry.eventType);
  assert.ok(types.includes('statecraft.resumed'), types.join(', '));
  assert.is(types.at(-1), 'CANCEL');
  assert.is((await store.summary(runId)).status, 'cancelled');
  const forkId = await forkRun(store, runId, 0);
  assert.is((await store.summary(forkId)).status, 'created');
  await store.close();
  const fork = await statecraft(['cancel', forkId]);
  assert.is(fork.code, 0, fork.out);
  const again = new SqliteStore({ path: dbPath });
  assert.is((await again.summary(forkId)).status, 'cancelled');
  await again.close();
});

test.run();
