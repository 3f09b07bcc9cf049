// Acting on runs from the inspector page, in Chromium: a failed run's banner, cancelling a run that
// another process runs, a fork that was never started and starting it with another model, and the
// text a run in another process streams. Runs in other processes are `statecraft run` children
// against one SQLite store, playing a scripted model on loopback.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { defineAgent, startRun } from '../src/index.ts';
import { startInspector } from '../src/inspector/startInspector.ts';
import { SqliteStore } from '../src/log/stores/sqlite/sqliteStore.ts';
import type { RunSummary } from '../src/log/format/record.ts';
import { forkRun } from '../src/runtime/forkRun.ts';
import { scriptedModel } from '../src/testing/index.ts';
import { delay } from '../src/delay.ts';
import { withPage } from './fixtures/browser.ts';
import { writeLongRun } from './fixtures/longRun.ts';
import { cli, cliIn, root } from './fixtures/cli.ts';
import { STREAMED } from './fixtures/live/agent.ts';

const dir = mkdtempSync(join(tmpdir(), 'statecraft-inspector-actions-'));
const live = resolve(root, 'test/fixtures/live/agent.ts');
const { storeUrl, env, statecraft } = cliIn(dir);
const dbPath = join(dir, 'runs.db');
const children: ChildProcess[] = [];

function child(args: string[], extraEnv: Record<string, string> = {}) {
  const process_ = spawn(process.execPath, [cli, ...args, '--store', storeUrl], { cwd: root, env: { ...env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(process_);
  let out = '';
  process_.stdout.on('data', (chunk) => (out += chunk));
  process_.stderr.on('data', (chunk) => (out += chunk));
  const exited = new Promise<number | null>((resolve) => process_.on('exit', (code) => resolve(code)));
  return { pid: process_.pid!, exited, out: () => out };
}

/** `statecraft inspect` in a child process; resolves with its address once it listens. */
async function inspectorProcess(extraEnv: Record<string, string> = {}) {
  const running = child(['inspect', '--port', '0'], extraEnv);
  for (let i = 0; i < 600; i++) {
    const url = /Statecraft inspector: (http:\/\/\S+)/.exec(running.out())?.[1];
    if (url) return { ...running, url };
    await delay(50);
  }
  throw new Error(`the inspector did not start: ${running.out()}`);
}

async function summaryWhen(store: SqliteStore, find: (summary: RunSummary) => boolean, what: string): Promise<RunSummary> {
  for (let i = 0; i < 600; i++) {
    const found = (await store.listRuns()).find(find);
    if (found) return found;
    await delay(50);
  }
  throw new Error(`no run ${what}: ${JSON.stringify(await store.listRuns())}`);
}

const runPage = (url: string, runId: string) => `${url.replace(/#.*$/, '')}#/runs/${encodeURIComponent(runId)}`;

test.after(async () => {
  for (const running of children) if (running.exitCode === null) running.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

test('a failed run has a banner with its cause', async () => {
  const store = new SqliteStore({ path: dbPath });
  const agent = defineAgent({ name: 'fails', model: scriptedModel([{ error: { status: 400, message: 'The prompt is too long for this model.' } }]) });
  const run = startRun(agent, { input: 'go', store });
  assert.is((await run.result).status, 'failed');
  const { reason } = await store.summary(run.runId);
  const inspector = await startInspector({ store });
  try {
    await withPage(async (page) => {
      await page.goto(runPage(inspector.url, run.runId));
      const banner = page.locator('.banner-failed');
      await banner.waitFor();
      assert.match(await banner.innerText(), 'This run failed');
      assert.match(await banner.innerText(), 'The prompt is too long for this model.');
      assert.match(reason ?? '', 'The prompt is too long for this model.', 'the banner shows the recorded reason');
      assert.is(await page.locator('.cancel-run').count(), 0, 'an ended run has no cancel');
    });
  } finally {
    await inspector.close();
    await store.close();
  }
});

test('on a 10,000-step run that failed, the banner shows its cause and the page stays bounded', async () => {
  const store = new SqliteStore({ path: join(dir, 'long.db') });
  const runId = await writeLongRun(store, 10_000);
  const { lastSeq } = await store.summary(runId);
  const cause = 'error: The agent machine stopped with an error: TypeError: fetch failed: ECONNRESET';
  await store.append(runId, [], { expectedSeq: lastSeq + 1, summary: { status: 'failed', reason: cause } });
  const inspector = await startInspector({ store });
  try {
    await withPage(async (page) => {
      await page.goto(runPage(inspector.url, runId));
      await page.locator(`.step[data-seq="${lastSeq}"]`).waitFor({ timeout: 30_000 });
      const banner = page.locator('.banner-failed');
      assert.match(await banner.innerText(), 'This run failed: an error stopped it.');
      assert.match(await banner.innerText(), 'The agent machine stopped with an error: TypeError: fetch failed: ECONNRESET');
      const nodes = await page.evaluate(() => (globalThis as unknown as { document: { getElementsByTagName(name: string): { length: number } } }).document.getElementsByTagName('*').length);
      assert.ok(nodes <= 5_000, `${nodes} DOM nodes`);
    });
  } finally {
    await inspector.close();
    await store.close();
  }
});

test('tokens a run streams in another process appear on the page while it runs', async () => {
  const store = new SqliteStore({ path: dbPath });
  const inspector = await startInspector({ store });
  try {
    const running = child(['run', live, '--scripted'], { LIVE_MODE: 'stream', LIVE_CHUNK_MS: '2000' });
    const summary = await summaryWhen(store, (found) => found.owner?.pid === running.pid, 'of the streaming child');
    await withPage(async (page) => {
      await page.goto(runPage(inspector.url, summary.runId));
      const streaming = page.locator('.messages .streaming .msg-content');
      // The page may open after the first pieces went by: any piece of the answer, as it is being written.
      await page.waitForFunction(
        (answer) => {
          const text = (globalThis as unknown as { document: { querySelector(selector: string): { textContent: string | null } | null } }).document.querySelector('.messages .streaming .msg-content')?.textContent;
          return Boolean(text) && answer.includes(text!);
        },
        STREAMED,
        { timeout: 30_000 },
      );
      const seen = (await streaming.textContent()) ?? '';
      assert.ok(seen.length > 0 && STREAMED.includes(seen), `a part of the answer is shown: ${seen}`);
      assert.ok(seen.length < STREAMED.length, 'shown while the answer is still being written');
      assert.is((await store.summary(summary.runId)).status, 'running', 'the run has not ended yet');
      assert.is(await running.exited, 0, running.out());
      await page.locator('.run-title .status-done').waitFor();
    });
  } finally {
    await inspector.close();
    await store.close();
  }
});

test('a run in another process is cancelled from the page, and its own process records the cancel', async () => {
  const store = new SqliteStore({ path: dbPath });
  const running = child(['run', live, '--scripted'], { LIVE_MODE: 'slow' });
  const summary = await summaryWhen(store, (found) => found.owner?.pid === running.pid && found.status === 'running', 'of the slow child');
  const inspector = await inspectorProcess();
  try {
    await withPage(async (page) => {
      await page.goto(runPage(inspector.url, summary.runId));
      await page.locator('.run-title .status-running').waitFor();
      await page.locator('.cancel-run').click();
      await page.locator('.run-title .status-cancelled').waitFor({ timeout: 30_000 });
    });
    assert.is(await running.exited, 130, running.out());
    const history = await store.readHistory(summary.runId);
    assert.equal(history.find((entry) => entry.eventType === 'CANCEL')?.event, { type: 'CANCEL', reason: 'Cancelled from the inspector.' });
    assert.not.ok(history.some((entry) => entry.eventType === 'statecraft.resumed'), 'cancelled by the process that ran it, not resumed elsewhere');
  } finally {
    process.kill(inspector.pid, 'SIGINT');
    await inspector.exited;
    await store.close();
  }
});

test('a fork never started says so, unlike a running run, and starts from the page with the model chosen there', async () => {
  const finished = await statecraft(['run', live, '--scripted'], {});
  const runId = /run ([0-9a-f-]{36})/.exec(finished.out)?.[1];
  assert.ok(runId, finished.out);
  const store = new SqliteStore({ path: dbPath });
  const forkId = await forkRun(store, runId!, 0);
  const inspector = await inspectorProcess({ LIVE_MODE: 'stream', LIVE_CHUNK_MS: '1' });
  try {
    await withPage(async (page) => {
      await page.goto(inspector.url);
      const row = page.locator(`tr[data-run-id="${forkId}"]`);
      await row.waitFor();
      assert.match(await row.innerText(), 'not started');
      await page.goto(runPage(inspector.url, forkId));
      await page.locator('.banner-created').waitFor();
      assert.match(await page.locator('.run-title').innerText(), 'not started');
      assert.is(await page.locator('.run-title .live-dot').count(), 0, 'not shown as live');
      await page.locator('.start-model').fill('gpt-other');
      await page.locator('.start-run').click();
      await page.locator('.run-title .status-done').waitFor({ timeout: 30_000 });
      assert.is(await page.locator('.banner-created').count(), 0);
    });
    const history = await store.readHistory(forkId);
    const swap = history.find((entry) => entry.eventType === 'statecraft.model_swap');
    assert.is((swap?.event as { to?: { model?: string } } | undefined)?.to?.model, 'gpt-other', 'resumed with the model chosen on the page');
    assert.is((await store.summary(forkId)).status, 'done');
  } finally {
    process.kill(inspector.pid, 'SIGINT');
    await inspector.exited;
    await store.close();
  }
});

test.run();
