// The inspector page on a 10,000-step run (40,000 records, 20,000 messages): the DOM holds what is on
// screen only, the selected record sits beside the timeline, search and filters narrow the records, and
// a live run keeps its latest message in view. Timing belongs to `npm run bench -- inspector`.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { z } from 'zod';
import { defineAgent, defineTool, startRun } from '../src/index.ts';
import { startInspector, type Inspector } from '../src/inspector/startInspector.ts';
import { SqliteStore } from '../src/log/stores/sqlite/sqliteStore.ts';
import { scriptedModel } from '../src/testing/index.ts';
import { withPage as withBrowserPage } from './fixtures/browser.ts';
import { writeLongRun } from './fixtures/longRun.ts';

const STEPS = 10_000;
const MAX_NODES = 5_000;
const dir = mkdtempSync(join(tmpdir(), 'statecraft-inspector-long-'));
const store = new SqliteStore({ path: join(dir, 'runs.db') });
let inspector: Inspector;
let runId: string;
let lastSeq: number;

test.before(async () => {
  runId = await writeLongRun(store, STEPS);
  lastSeq = (await store.summary(runId)).lastSeq;
  inspector = await startInspector({ store });
});

test.after(async () => {
  await inspector?.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

type Page = import('playwright-core').Page;

const withPage = (body: (page: Page) => Promise<void>) => withBrowserPage(body, { timeout: 30_000 });

// Functions, not strings: the page's Content-Security-Policy forbids eval, which a string needs.
const domNodes = (page: Page) => page.evaluate(() => (globalThis as unknown as { document: { getElementsByTagName(name: string): { length: number } } }).document.getElementsByTagName('*').length);
const assertBounded = async (page: Page, when: string) => {
  const nodes = await domNodes(page);
  assert.ok(nodes <= MAX_NODES, `${nodes} DOM nodes ${when}, at most ${MAX_NODES}`);
};
/** A timeline row and the record beside it, loaded. */
const shown = async (page: Page, seq: number) => {
  await page.waitForSelector(`.step[data-seq="${seq}"]`);
  await page.waitForSelector(`.timeline li.selected[data-seq="${seq}"]:not(.pending)`);
  await page.waitForSelector(`.messages[data-seq="${seq}"] .message:not(.pending)`);
};
const slideTo = (page: Page, seq: number) =>
  page.$eval(
    '#seq-slider',
    (input, value) => {
      (input as unknown as { value: string }).value = String(value);
      input.dispatchEvent(new Event('input', { bubbles: true }));
    },
    seq,
  );
type Box = { x: number; y: number; width: number; height: number };
const boxOf = async (page: Page, selector: string): Promise<Box> => {
  const box = await page.locator(selector).boundingBox();
  assert.ok(box, `${selector} is laid out`);
  return box!;
};

test('a 10,000-step run opens at its end with at most 5,000 DOM nodes, and stays under it when scrolled and scrubbed', async () => {
  await withPage(async (page) => {
    await page.goto(`${inspector.url}#/runs/${encodeURIComponent(runId)}`);
    await shown(page, lastSeq);
    await page.locator('#diagram svg').waitFor();
    await assertBounded(page, 'at the end');
    assert.match(await page.locator('.timeline-count').innerText(), `${lastSeq + 1} records`);
    assert.match((await page.locator('.messages-panel h3').textContent()) ?? '', `Messages (${2 * STEPS + 1})`);
    // The latest message is in view, and the conversation's first is not in the DOM.
    const lastMessage = page.locator(`.messages .message[data-index="${2 * STEPS}"]`);
    assert.match(await lastMessage.innerText(), `finished after ${STEPS} steps`);
    assert.is(await page.locator('.messages .message[data-index="0"]').count(), 0);

    const middle = Math.floor(lastSeq / 2);
    await slideTo(page, middle);
    await shown(page, middle);
    await assertBounded(page, 'at the middle');
    await page.locator('body').press('ArrowRight');
    await shown(page, middle + 1);

    // Scrolled by hand to the top of both lists: the rows there are fetched and drawn, the others dropped.
    await page.$eval('.timeline', (list) => ((list as unknown as { scrollTop: number }).scrollTop = 0));
    await page.waitForSelector('.timeline li[data-seq="0"]:not(.pending)');
    assert.match(await page.locator('.timeline li[data-seq="0"]').innerText(), 'Run started');
    assert.is(await page.locator(`.timeline li[data-seq="${middle}"]`).count(), 0);
    await page.$eval('.messages', (list) => ((list as unknown as { scrollTop: number }).scrollTop = 0));
    await page.waitForSelector('.messages .message[data-index="0"]:not(.pending)');
    await assertBounded(page, 'scrolled to the top');

    await page.locator('body').press('End');
    await shown(page, lastSeq);
    await assertBounded(page, 'back at the end');
  });
});

test("a step's timing view at 10,000 steps: the turn of a record far back, its failed call, and the DOM still bounded", async () => {
  await withPage(async (page) => {
    await page.goto(`${inspector.url}#/runs/${encodeURIComponent(runId)}`);
    await shown(page, lastSeq);
    // Step 5005 (turn 5004 from 0) is a lookup that fails: four records a step, its finish is record 4 * 5004 + 3.
    const failed = 4 * 5004 + 3;
    const asked: string[] = [];
    page.on('request', (request) => /\/timing$|[?&]timing=1/.test(request.url()) && asked.push(new URL(request.url()).pathname));
    await slideTo(page, failed);
    await shown(page, failed);
    const panel = page.locator(`.timing-panel[data-from="${failed - 2}"]`);
    await panel.waitFor();
    assert.match((await panel.locator('h3').textContent()) ?? '', /^Step 5005 timing/);
    const rows = panel.locator('.waterfall .span');
    assert.equal(await rows.evaluateAll((items) => items.map((item) => `${(item as unknown as { dataset: { kind: string; status: string } }).dataset.kind}:${(item as unknown as { dataset: { status: string } }).dataset.status}`)), ['model:ok', 'tool:error']);
    assert.match(await rows.nth(1).innerText(), /lookup[\s\S]*no entry for word5004/);
    await assertBounded(page, 'with the timing view');
    // The timing came with the record; within the same step, it is not asked again.
    await page.locator('body').press('ArrowLeft');
    await shown(page, failed - 1);
    await page.locator(`.timing-panel[data-from="${failed - 2}"]`).waitFor();
    assert.equal(asked, [`/api/runs/${runId}/at/${failed}`]);
  });
});

test('the records next to the one shown are fetched ahead: an arrow key draws the next record without asking the server', async () => {
  await withPage(async (page) => {
    const asked: string[] = [];
    page.on('request', (request) => {
      const match = /\/at\/(\d+)\?/.exec(request.url());
      if (match) asked.push(match[1]!);
    });
    await page.goto(`${inspector.url}#/runs/${encodeURIComponent(runId)}`);
    await shown(page, lastSeq);
    const third = Math.floor(lastSeq / 3);
    // Both neighbours are asked for once the record is drawn.
    const ahead = [third + 1, third - 1].map((seq) => page.waitForResponse((response) => response.url().includes(`/at/${seq}?`)));
    await slideTo(page, third);
    await shown(page, third);
    await Promise.all(ahead);
    assert.ok(asked.includes(String(third - 1)) && asked.includes(String(third + 1)), `asked for ${asked.join(', ')}`);
    const before = asked.filter((seq) => seq === String(third + 1)).length;
    await page.locator('body').press('ArrowRight');
    await shown(page, third + 1);
    assert.is(asked.filter((seq) => seq === String(third + 1)).length, before, 'the next record came from what was fetched ahead');
  });
});

test("the selected record's event, patch and context sit beside the timeline, in view without scrolling the page", async () => {
  await withPage(async (page) => {
    await page.goto(`${inspector.url}#/runs/${encodeURIComponent(runId)}`);
    const seq = 4 * 5000 + 1;
    await shown(page, lastSeq);
    await slideTo(page, seq);
    await shown(page, seq);
    const timeline = await boxOf(page, '.timeline-panel');
    const column = await boxOf(page, '.col-record');
    const viewport = page.viewportSize()!;
    assert.ok(column.x >= timeline.x + timeline.width, `the record's column is right of the timeline (${column.x} >= ${timeline.x + timeline.width})`);
    assert.ok(Math.abs(column.y - timeline.y) < 120 && column.y + column.height <= viewport.height, 'level with the timeline, and within the window');
    for (const title of ['Event', 'Patch', 'Context']) {
      const panel = page.locator(`.col-record .panel:has(h3:text-matches("^${title}", "i"))`);
      assert.is(await panel.count(), 1, `${title} is in the record's column, which scrolls on its own`);
    }
    const event = await boxOf(page, '.step .panel:has(h3:text-matches("^Event", "i"))');
    assert.ok(event.x >= timeline.x + timeline.width && event.y + event.height <= viewport.height, 'the event is beside the timeline and in view');
    // Scrolling the record's column shows the context, beside the timeline still.
    await page.locator('.col-record .panel:has(h3:text-matches("^Context", "i"))').scrollIntoViewIfNeeded();
    const context = await boxOf(page, '.col-record .panel:has(h3:text-matches("^Context", "i"))');
    assert.ok(context.x >= timeline.x + timeline.width && context.y < viewport.height && context.y + 20 > timeline.y, 'the context is beside the timeline');
    assert.equal(await boxOf(page, '.timeline-panel'), timeline, 'the timeline did not move');
    // A card shows the start of its message; clicked, the whole message opens in the record's column.
    const card = page.locator('.messages .message:not(.pending)').last();
    const index = await card.getAttribute('data-index');
    await card.click();
    const opened = page.locator(`.col-record .open-message[data-index="${index}"]`);
    await opened.waitFor();
    assert.match(await opened.innerText(), /add\s+call_\d+|"sum"/);
    // The event is said in words; its raw form, with XState's name, is folded away in the details.
    assert.match(await page.locator('.step .event-words').innerText(), /^Model asks for add/);
    assert.is(await page.locator('.step details.raw-event[open]').count(), 0);
    assert.match((await page.locator('.step .event-type').textContent()) ?? '', 'xstate.done.actor.callModel');
    const scroll = await page.evaluate(() => {
      const root = (globalThis as unknown as { document: { scrollingElement: { scrollHeight: number; clientHeight: number } } }).document.scrollingElement;
      return { height: root.scrollHeight, client: root.clientHeight };
    });
    assert.ok(scroll.height <= scroll.client, `the page does not scroll (${scroll.height} > ${scroll.client})`);
  });
});

test('search and the kind, tool and state filters narrow the records, and arrows step through what is left', async () => {
  await withPage(async (page) => {
    await page.goto(`${inspector.url}#/runs/${encodeURIComponent(runId)}`);
    await shown(page, lastSeq);
    const seqs = async () => (await page.locator('.timeline li:not(.pending)').evaluateAll((items) => items.map((item) => Number((item as unknown as { dataset: { seq: string } }).dataset.seq))));

    // Step 5004 is a lookup: the word is in the model's call and in the tool's failure.
    await page.locator('.record-search').fill('word5004');
    await page.locator('.timeline-count', { hasText: `2 of ${lastSeq + 1} records` }).waitFor();
    const rows = page.locator('.timeline li:not(.pending)');
    await rows.nth(1).waitFor();
    assert.is(await page.locator('.timeline li').count(), 2);
    for (const text of await rows.allInnerTexts()) assert.match(text, /lookup/);

    await page.locator('.record-search').fill('');
    await page.locator('.kind-filter').selectOption('tool');
    await page.locator('.tool-filter').focus();
    await page.locator('.tool-filter option[value="lookup"]').waitFor({ state: 'attached' });
    await page.locator('.tool-filter').selectOption('lookup');
    await page.locator('.state-filter').selectOption('execute');
    await page.locator('.timeline-count', { hasText: /^\d+ of / }).waitFor();
    // Every seventh step is a lookup, and its start and finish are tool records in the execute state.
    const lookups = Math.floor((STEPS - 1) / 7);
    await page.locator('.timeline-count', { hasText: `${2 * lookups} of ${lastSeq + 1} records` }).waitFor();
    await page.waitForSelector('.timeline li:not(.pending)');
    const shownSeqs = await seqs();
    assert.ok(shownSeqs.length > 5, 'rows are drawn');
    for (const text of await rows.allInnerTexts()) assert.match(text, /^\d+\s+lookup (started|failed)[^\n]*\s+execute$/);
    assert.equal(shownSeqs, [...shownSeqs].sort((a, b) => a - b));
    await assertBounded(page, 'filtered');

    // From a record left by the filters, the right arrow goes to the next one left, not to the next record.
    await page.locator('.timeline li:not(.pending) button').first().click();
    await page.waitForSelector(`.step[data-seq="${shownSeqs[0]}"]`);
    await page.locator('body').press('ArrowRight');
    await page.waitForSelector(`.step[data-seq="${shownSeqs[1]}"]`);
    assert.match(await page.locator('.step .step-label').innerText(), /^lookup (started|failed)/);
  });
});

test('following a live run keeps the latest message in view as records arrive', async () => {
  // Each step waits for its approval, given here: the run moves on only once the page has caught up.
  const note = defineTool({ name: 'note', description: 'Write a note.', parameters: z.object({ n: z.number() }), needsApproval: true, execute: ({ n }) => `noted ${n}` });
  const agent = defineAgent({ name: 'careful-noter', instructions: 'Take notes, one at a time.', tools: [note] });
  const steps = 14;
  const model = scriptedModel((i) => (i < steps - 1 ? { content: `Note ${i}, please.`, toolCalls: [{ id: `n${i}`, name: 'note', arguments: { n: i } }] } : { content: 'all notes taken' }));
  const run = startRun(agent, { input: 'take notes', model, store });
  try {
    await withPage(async (page) => {
      await page.goto(`${inspector.url}#/runs/${encodeURIComponent(run.runId)}`);
      const latestInView = async () => {
        const count = Number(/\((\d+)\)/.exec((await page.locator('.messages-panel h3').textContent()) ?? '')![1]);
        const last = page.locator(`.messages .message[data-index="${count - 1}"]:not(.pending)`);
        await last.waitFor();
        const [box, list] = [await last.boundingBox(), await boxOf(page, '.messages')];
        assert.ok(box && box.y >= list.y - 1 && box.y + box.height <= list.y + list.height + 1, `the latest of ${count} messages is in view`);
        return count;
      };
      const counts: number[] = [];
      for (let i = 0; i < steps - 1; i++) {
        await page.locator(`.approval[data-call-id="n${i}"]`).waitFor();
        counts.push(await latestInView());
        run.approve(`n${i}`);
      }
      assert.is((await run.result).status, 'done');
      const { lastSeq: end } = await store.summary(run.runId);
      await page.waitForSelector(`.step[data-seq="${end}"]`);
      const answer = page.locator(`.messages .message[data-index="${2 * steps}"]`);
      await answer.waitFor();
      assert.match(await answer.innerText(), 'all notes taken');
      counts.push(await latestInView());
      assert.equal(counts, [...Array.from({ length: steps - 1 }, (_, i) => 3 + 2 * i), 2 * steps + 1], 'two messages a step, each followed');
      assert.ok(counts.at(-1)! > 12, 'more messages than fit in the list');
    });
  } finally {
    if (run.pendingApprovals.length) await run.detach();
  }
});

test.run();
