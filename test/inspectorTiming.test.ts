// A step's timing view in Chromium: a run whose model (the real openai client against the scripted
// server) asks for three calls at once, one of which fails and one of which waits for a person.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { z } from 'zod';
import { createOpenAIModel, defineAgent, defineTool, startRun } from '../src/index.ts';
import { startInspector, type Inspector } from '../src/inspector/startInspector.ts';
import type { StepTiming } from '../src/inspector/stepTiming.ts';
import { SqliteStore } from '../src/log/stores/sqlite/sqliteStore.ts';
import { startScriptedServer } from '../src/testing/index.ts';
import { withPage } from './fixtures/browser.ts';

const dir = mkdtempSync(join(tmpdir(), 'statecraft-inspector-timing-'));
const store = new SqliteStore({ path: join(dir, 'runs.db') });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const slow = defineTool({ name: 'fetchPage', description: 'Fetch a page.', parameters: z.object({ url: z.string() }), execute: async ({ url }) => (await sleep(120), `page ${url}`) });
const failing = defineTool({
  name: 'lookup',
  description: 'Look a word up.',
  parameters: z.object({ word: z.string() }),
  execute: async ({ word }) => {
    await sleep(40);
    throw new Error(`no entry for ${word}`);
  },
});
const publish = defineTool({ name: 'publish', description: 'Publish a text.', parameters: z.object({ text: z.string() }), needsApproval: true, execute: ({ text }) => `published ${text}` });

let inspector: Inspector;
let runId: string;
/** Record numbers: the model's first answer, and the failing call's finish. */
let answerSeq: number;
let failedSeq: number;
let closeServer: () => Promise<void>;

test.before(async () => {
  const server = await startScriptedServer([
    {
      content: 'All three at once.',
      toolCalls: [
        { id: 'c_fetch', name: 'fetchPage', arguments: { url: 'a.example' } },
        { id: 'c_lookup', name: 'lookup', arguments: { word: 'zyzzyva' } },
        { id: 'c_publish', name: 'publish', arguments: { text: 'hello' } },
      ],
    },
    { content: 'Done.' },
  ]);
  closeServer = () => server.close();
  const model = createOpenAIModel({ baseURL: server.url, apiKey: 'test', model: 'gpt-4o-mini' });
  const agent = defineAgent({ name: 'timed', instructions: 'Fetch, look up, publish.', tools: [slow, failing, publish], model });
  const run = startRun(agent, { input: 'go', store });
  await new Promise<void>((resolve) => run.on((event) => event.type === 'approval.requested' && resolve()));
  // A person takes a moment to decide: the wait is a bar of its own, before the calls run.
  await sleep(150);
  run.approve('c_publish', { by: 'ana' });
  assert.is((await run.result).status, 'done');
  runId = run.runId;
  const history = await store.readHistory(runId);
  answerSeq = history.find((entry) => entry.eventType === 'xstate.done.actor.callModel')!.seq;
  failedSeq = history.find((entry) => entry.eventType === 'TOOL_FINISHED' && (entry.event as { callId?: string }).callId === 'c_lookup')!.seq;
  inspector = await startInspector({ store });
});

test.after(async () => {
  await inspector?.close();
  await closeServer?.();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

test('the timing endpoint answers the spans of the step a record belongs to, the same from any of its records', async () => {
  const ask = async (seq: number) => (await (await fetch(new URL(`/api/runs/${runId}/at/${seq}/timing`, inspector.url))).json()) as StepTiming;
  const timing = await ask(failedSeq);
  assert.equal(timing.spans.map((span) => [span.kind, span.callId ?? '', span.status]), [
    ['model', '', 'ok'],
    ['approval', 'c_publish', 'approved'],
    ['tool', 'c_fetch', 'ok'],
    ['tool', 'c_lookup', 'error'],
    ['tool', 'c_publish', 'ok'],
  ]);
  assert.is(timing.step, 1);
  assert.is(timing.fromSeq, answerSeq);
  assert.equal(await ask(answerSeq), timing);
  assert.equal(await ask(0), timing, 'the run start belongs to the first step');
  const second = await ask(timing.toSeq + 1);
  assert.equal([second.step, second.spans.map((span) => span.kind)], [2, ['model']]);
  const view = (await (await fetch(new URL(`/api/runs/${runId}/at/${failedSeq}?messages=-5&timing=1`, inspector.url))).json()) as { seq: number; timing: StepTiming };
  assert.equal([view.seq, view.timing], [failedSeq, timing], "a record's view brings its step's timing when asked");
  const missing = await fetch(new URL(`/api/runs/${runId}/at/999/timing`, inspector.url));
  assert.is(missing.status, 404);
});

test('a step shows a waterfall: the model call, the approval wait, then the three calls as overlapping bars, the failed one with its error', async () => {
  await withPage(async (page) => {
    const timingRequests: string[] = [];
    page.on('request', (request) => /\/timing$/.test(new URL(request.url()).pathname) && timingRequests.push(request.url()));
    await page.goto(`${inspector.url}#/runs/${encodeURIComponent(runId)}`);
    await page.locator('.timeline li[data-seq]:not(.pending)').first().waitFor();
    await page.$eval(
      '#seq-slider',
      (input, value) => {
        (input as unknown as { value: string }).value = String(value);
        input.dispatchEvent(new Event('input', { bubbles: true }));
      },
      failedSeq,
    );
    await page.waitForSelector(`.step[data-seq="${failedSeq}"]`);
    const panel = page.locator(`.timing-panel[data-from="${answerSeq}"]`);
    await panel.waitFor();
    assert.match((await panel.locator('h3').textContent()) ?? '', /^Step 1 timing/);
    assert.equal(timingRequests, [], 'the timing came with the record');
    const rows = panel.locator('.waterfall .span');
    const read = await rows.evaluateAll((items) =>
      items.map((item) => {
        const { kind, status, callId, start, end } = (item as unknown as { dataset: Record<string, string> }).dataset;
        const bar = (item as unknown as { querySelector(s: string): { getBoundingClientRect(): { left: number; right: number } } }).querySelector('.span-bar').getBoundingClientRect();
        return { kind, status, callId: callId ?? '', start: Number(start), end: Number(end), left: bar.left, right: bar.right, text: (item as unknown as { innerText: string }).innerText };
      }),
    );
    assert.equal(read.map((row) => [row.kind, row.callId, row.status]), [
      ['model', '', 'ok'],
      ['approval', 'c_publish', 'approved'],
      ['tool', 'c_fetch', 'ok'],
      ['tool', 'c_lookup', 'error'],
      ['tool', 'c_publish', 'ok'],
    ]);
    const [model, wait, fetchPage, lookup, published] = read;
    assert.match(model!.text, /model call: gpt-4o-mini/);
    assert.match(wait!.text, /waiting for approval of publish[\s\S]*approved by ana/);
    assert.match(lookup!.text, /lookup[\s\S]*failed[\s\S]*no entry for zyzzyva/);
    // In time: the model answers, then the wait, then the calls, which all start once it is decided.
    assert.ok(model!.end <= wait!.start, 'the wait starts once the model has answered');
    for (const call of [fetchPage, lookup, published]) assert.ok(wait!.end <= call!.start, `${call!.callId} runs after the decision`);
    // The calls run together: the failing one starts and ends while the slow one runs.
    assert.ok(fetchPage!.start <= lookup!.start && lookup!.end < fetchPage!.end, 'lookup lies within fetchPage in time');
    // On screen, bars sit left to right in the same order, and the parallel calls' bars overlap.
    assert.ok(model!.right <= wait!.left + 1 && wait!.right <= fetchPage!.left + 1, 'bars follow each other left to right');
    assert.ok(lookup!.left < fetchPage!.right && fetchPage!.left < lookup!.right && lookup!.right < fetchPage!.right, 'the parallel bars overlap');
    // A bar opens the record that ended it.
    await rows.nth(3).click();
    await page.waitForSelector(`.step[data-seq="${failedSeq}"]`);
    assert.match(await page.locator('.step .step-label').innerText(), /^lookup failed/);
  });
});

test('the record panel says the event in words and keeps its raw form, with XState’s name, folded away', async () => {
  await withPage(async (page) => {
    await page.goto(`${inspector.url}#/runs/${encodeURIComponent(runId)}`);
    await page.locator('.timeline li[data-seq]:not(.pending)').first().waitFor();
    await page.locator(`.timeline li[data-seq="${answerSeq}"] button`).click();
    await page.waitForSelector(`.step[data-seq="${answerSeq}"]`);
    const words = await page.locator('.event-panel .event-words').innerText();
    assert.match(words, /^Model asks for fetchPage, lookup, publish/);
    const raw = page.locator('.event-panel details.raw-event');
    assert.is(await raw.getAttribute('open'), null, 'the raw event is folded');
    assert.not.match(await page.locator('.col-record').innerText(), /xstate\./, 'no XState name is on screen');
    await raw.locator('> summary').click();
    assert.match(await raw.locator('.event-type').innerText(), 'xstate.done.actor.callModel');
  });
});

test.run();
