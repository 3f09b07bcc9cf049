// Draws docs/inspector.png, the inspector's picture in the README: a run whose model asks for three
// tools at once (one fails, one waits for a person's approval), shown at its busiest step.
// Run with `node --import tsx scripts/inspectorScreenshot.ts` (needs Chromium at /usr/bin/chromium).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { createOpenAIModel, defineAgent, defineTool, startRun } from '../src/index.ts';
import { startInspector } from '../src/inspector/startInspector.ts';
import { SqliteStore } from '../src/log/stores/sqlite/sqliteStore.ts';
import { startScriptedServer } from '../src/testing/index.ts';

const out = new URL('../docs/inspector.png', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'statecraft-screenshot-'));
const store = new SqliteStore({ path: join(dir, 'runs.db') });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const fetchPage = defineTool({ name: 'fetch_page', description: 'Fetch a web page.', parameters: z.object({ url: z.string() }), execute: async ({ url }) => (await sleep(180), `<h1>${url}</h1> Release notes: the queue now drains in order.`) });
const lookup = defineTool({ name: 'lookup', description: 'Look a term up in the glossary.', parameters: z.object({ term: z.string() }), execute: async ({ term }) => (await sleep(60), Promise.reject(new Error(`no glossary entry for "${term}"`))) });
const publish = defineTool({ name: 'publish_summary', description: 'Publish a summary to the team channel.', parameters: z.object({ text: z.string() }), needsApproval: true, execute: ({ text }) => `published ${text.length} characters` });

const server = await startScriptedServer([
  {
    content: 'I will read the release notes, check the glossary and draft the post at once.',
    toolCalls: [
      { id: 'call_fetch', name: 'fetch_page', arguments: { url: 'https://example.com/releases/4.2' } },
      { id: 'call_lookup', name: 'lookup', arguments: { term: 'drain' } },
      { id: 'call_publish', name: 'publish_summary', arguments: { text: 'Release 4.2: the queue now drains in order.' } },
    ],
  },
  { content: 'Published the summary of release 4.2; "drain" has no glossary entry yet, so I explained it inline.' },
]);
try {
  const model = createOpenAIModel({ baseURL: server.url, apiKey: 'local', model: 'gpt-4o-mini' });
  const agent = defineAgent({ name: 'release-notes', instructions: 'Summarise the release and post it.', tools: [fetchPage, lookup, publish], model });
  const run = startRun(agent, { input: 'Post a summary of release 4.2 to the team.', store });
  await new Promise<void>((resolve) => run.on((event) => event.type === 'approval.requested' && resolve()));
  await sleep(400);
  run.approve('call_publish', { by: 'ana' });
  await run.result;
  const history = await store.readHistory(run.runId);
  const seq = history.find((entry) => entry.eventType === 'TOOL_FINISHED' && (entry.event as { callId?: string }).callId === 'call_lookup')!.seq;

  const inspector = await startInspector({ store });
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 }, deviceScaleFactor: 1 });
    await page.goto(`${inspector.url}#/runs/${encodeURIComponent(run.runId)}`);
    await page.locator('.timeline li[data-seq]:not(.pending)').first().waitFor();
    await page.$eval('#seq-slider', (input, value) => {
      (input as unknown as { value: string }).value = String(value);
      input.dispatchEvent(new Event('input', { bubbles: true }));
    }, seq);
    await page.waitForSelector(`.step[data-seq="${seq}"]`);
    await page.locator('.timing-panel .waterfall .span').first().waitFor();
    await sleep(300);
    await page.screenshot({ path: out });
    console.log(`wrote ${out}`);
  } finally {
    await browser.close();
    await inspector.close();
  }
} finally {
  await server.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
}
