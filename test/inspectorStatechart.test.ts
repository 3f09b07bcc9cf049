// The inspector's statechart in Chromium: it zooms and pans, a click on a state narrows the timeline to
// the records spent in it, the current state follows the record shown (on a 10,000-step run), a custom
// machine's run is drawn from the graph recorded with it, and a composed run lists its invoked agents
// with their own messages and charts.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startRun } from '../src/index.ts';
import { startInspector, type Inspector } from '../src/inspector/startInspector.ts';
import { SqliteStore } from '../src/log/stores/sqlite/sqliteStore.ts';
import { scriptedModel } from '../src/testing/index.ts';
import * as compose from '../examples/compose/agent.ts';
import * as extend from '../examples/extend/agent.ts';
import { withPage as withBrowserPage } from './fixtures/browser.ts';
import { writeLongRun } from './fixtures/longRun.ts';

const STEPS = 10_000;
const dir = mkdtempSync(join(tmpdir(), 'statecraft-inspector-statechart-'));
const store = new SqliteStore({ path: join(dir, 'runs.db') });
let inspector: Inspector;
let longRun: string;
let lastSeq: number;
let extended: string;
let composed: string;

async function runOf(example: typeof compose | typeof extend): Promise<string> {
  const run = startRun(example.agent, { input: example.input, model: scriptedModel(example.script), store });
  assert.is((await run.result).status, 'done');
  return run.runId;
}

test.before(async () => {
  longRun = await writeLongRun(store, STEPS);
  lastSeq = (await store.summary(longRun)).lastSeq;
  extended = await runOf(extend);
  composed = await runOf(compose);
  // The agent machine only, as `npx statecraft inspect` has it: the other machines come from the store.
  inspector = await startInspector({ store });
});

test.after(async () => {
  await inspector?.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

type Page = import('playwright-core').Page;
/** What the page functions below read of the document (the tests are compiled without the DOM's types). */
type Doc = { querySelector(selector: string): { textContent: string | null } | null };
const withPage = (body: (page: Page) => Promise<void>) => withBrowserPage(body, { timeout: 30_000 });

const open = async (page: Page, runId: string, seq: number) => {
  await page.goto(`${inspector.url}#/runs/${encodeURIComponent(runId)}`);
  await page.waitForSelector(`.step[data-seq="${seq}"]`);
  await page.waitForSelector('#diagram svg g.viewport');
};
const transformOf = (page: Page) => page.locator('#diagram g.viewport').getAttribute('transform');
const scaleOf = async (page: Page) => Number(/scale\(([\d.]+)\)/.exec((await transformOf(page)) ?? '')?.[1]);
const slideTo = (page: Page, seq: number) =>
  page.$eval(
    '#seq-slider',
    (input, value) => {
      (input as unknown as { value: string }).value = String(value);
      input.dispatchEvent(new Event('input', { bubbles: true }));
    },
    seq,
  );
const stateNode = (page: Page, id: string) => page.locator(`#diagram [id="state:${id}"]`);

test('the statechart zooms with the buttons, the keyboard and the wheel, pans by dragging, fits, and its labels are readable', async () => {
  await withPage(async (page) => {
    await open(page, longRun, lastSeq);
    await page.waitForSelector('#diagram .current');
    // The first view brings the current state in at a scale where labels are at least 10 px tall.
    const label = await page.locator('#diagram [id="state:agent.done"] text').first().boundingBox();
    assert.ok(label && label.height >= 10, `the current state's label is ${label?.height} px tall`);
    const first = await scaleOf(page);
    await page.locator('.zoom-in').click();
    const zoomed = await scaleOf(page);
    assert.ok(zoomed > first * 1.2, `zoom in: ${first} -> ${zoomed}`);
    await page.locator('#diagram').focus();
    await page.keyboard.press('-');
    assert.ok((await scaleOf(page)) < zoomed, 'the - key zooms out');
    await page.keyboard.press('+');
    assert.ok(Math.abs((await scaleOf(page)) - zoomed) < 0.01, 'the + key zooms in');
    const box = (await page.locator('#diagram').boundingBox())!;
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.wheel(0, 400);
    assert.ok((await scaleOf(page)) < zoomed, 'the wheel zooms out');
    const before = await transformOf(page);
    await page.mouse.move(box.x + 20, box.y + 20);
    await page.mouse.down();
    await page.mouse.move(box.x + 120, box.y + 80, { steps: 5 });
    await page.mouse.up();
    const panned = await transformOf(page);
    assert.not.equal(panned, before, 'dragging pans');
    const [bx, by] = /translate\(([-\d.]+) ([-\d.]+)\)/.exec(before!)!.slice(1).map(Number);
    const [px, py] = /translate\(([-\d.]+) ([-\d.]+)\)/.exec(panned!)!.slice(1).map(Number);
    assert.ok(Math.abs(px! - bx! - 100) < 2 && Math.abs(py! - by! - 60) < 2, `moved by the drag: ${before} -> ${panned}`);
    await page.locator('.zoom-fit').click();
    const chart = (await page.locator('#diagram g.viewport').boundingBox())!;
    assert.ok(chart.width <= box.width + 1 && chart.height <= box.height + 1, 'fit shows the whole chart');
    assert.ok(chart.width >= box.width * 0.9 || chart.height >= box.height * 0.9, 'and fills the panel');
  });
});

test('the current state is highlighted, and moves with the record shown when scrubbing', async () => {
  await withPage(async (page) => {
    await open(page, longRun, lastSeq);
    await page.waitForSelector('#diagram [id="state:agent.done"].current');
    const history = await store.readHistory(longRun, { from: 0, to: 8 });
    const executing = history.find((entry) => entry.state === 'execute')!.seq;
    await slideTo(page, executing);
    await page.waitForSelector(`.step[data-seq="${executing}"]`);
    await page.waitForSelector('#diagram [id="state:agent.execute"].current');
    assert.is(await page.locator('#diagram .current').count(), 1, 'one current state');
    assert.not.ok(await stateNode(page, 'agent.done').evaluate((node) => node.classList.contains('active')));
    const inside = async (id: string) => {
      const [node, frame] = [(await stateNode(page, id).boundingBox())!, (await page.locator('#diagram').boundingBox())!];
      return node.x >= frame.x && node.y >= frame.y && node.x + node.width <= frame.x + frame.width && node.y + node.height <= frame.y + frame.height;
    };
    assert.ok(await inside('agent.execute'), 'the current state is brought into view');
    await page.locator('body').press('End');
    await page.waitForSelector('#diagram [id="state:agent.done"].current');
    assert.ok(await inside('agent.done'), 'and follows the run back to its end');
    await page.waitForSelector('#diagram [id="state:agent.done"].current');
  });
});

test('a click on a state narrows the timeline to the records spent in it; a click on the machine shows them all again', async () => {
  await withPage(async (page) => {
    await open(page, longRun, lastSeq);
    await page.locator('.zoom-fit').click();
    await stateNode(page, 'agent.infer').click();
    await page.waitForFunction(() => /of \d+ records/.test((globalThis as unknown as { document: Doc }).document.querySelector('.timeline-count')?.textContent ?? ''));
    const count = (await page.locator('.timeline-count').innerText()).trim();
    const infer = (await store.readHistory(longRun)).filter((entry) => entry.state === 'infer').length;
    assert.is(count, `${infer} of ${lastSeq + 1} records`);
    assert.is(await page.locator('.state-filter').inputValue(), 'infer');
    await page.waitForSelector('.timeline li:not(.pending)');
    const states = await page.locator('.timeline li:not(.pending) .st').allInnerTexts();
    assert.ok(states.length > 0 && states.every((state) => state === 'infer'), `rows shown: ${states.slice(0, 5).join(', ')}`);
    // The root cluster's label is the machine's: a click there shows every record.
    await page.locator('#diagram [id="state:agent"] > text').first().click();
    await page.waitForFunction((total) => (globalThis as unknown as { document: Doc }).document.querySelector('.timeline-count')?.textContent === `${total} records`, lastSeq + 1);
  });
});

test('a run of an extended machine shows its own diagram, the state it adds included, from the graph recorded with it', async () => {
  const last = (await store.summary(extended)).lastSeq;
  await withPage(async (page) => {
    await open(page, extended, last);
    await stateNode(page, 'citingAgent.nudge').waitFor({ state: 'attached' });
    await page.waitForSelector('#diagram [id="state:citingAgent.done"].current');
    const history = await store.readHistory(extended);
    const nudged = history.find((entry) => entry.state === 'nudge')!.seq;
    await slideTo(page, nudged);
    await page.waitForSelector('#diagram [id="state:citingAgent.nudge"].current');
    assert.is(await page.locator('.diagram-panel .muted', { hasText: 'No diagram' }).count(), 0);
  });
});

test('a composed run lists its invoked agents as a tree, each with its own messages and chart', async () => {
  const last = (await store.summary(composed)).lastSeq;
  const history = await store.readHistory(composed);
  const researching = history.filter((entry) => JSON.stringify(entry.state).includes('research')).at(-1)!.seq;
  await withPage(async (page) => {
    await open(page, composed, last);
    await page.waitForSelector('.agents-panel:not([hidden])');
    assert.equal(await page.locator('.agent-entry .agent-name').allInnerTexts(), ['research-and-write', '↳ researcher', '↳ writer']);
    assert.match(await page.locator('.agent-entry[data-agent="writer"]').innerText(), 'not running');
    assert.match(await page.locator('.messages-panel h3').innerText(), /Messages \(0\) · the agents it invokes keep their own/i);
    await slideTo(page, researching);
    await page.waitForSelector(`.step[data-seq="${researching}"]`);
    await page.waitForSelector('.agent-entry[data-path="researcher"]:not(.idle)');
    await page.locator('.agent-entry[data-path="researcher"] button').click();
    await page.waitForFunction(() => /^Messages of researcher \(\d+\)$/.test((globalThis as unknown as { document: Doc }).document.querySelector('.messages-panel h3')?.textContent ?? ''));
    const title = await page.locator('.messages-panel h3').innerText();
    assert.ok(Number(/\((\d+)\)/.exec(title)![1]) >= 3, title);
    await page.waitForSelector('.messages .message[data-index="0"]');
    assert.match(await page.locator('.messages .message[data-index="0"]').innerText(), 'Collect facts with look_up.');
    // Its chart is the agent machine, with the researcher's state current.
    await page.waitForSelector('.diagram-label:text("of researcher")');
    await page.waitForSelector('#diagram [id="state:agent.infer"].current, #diagram [id="state:agent.execute"].current');
    // The timeline holds the run's own states: a click on the agent's chart does not narrow it.
    await page.locator('.zoom-fit').click();
    await stateNode(page, 'agent.route').click();
    assert.is(await page.locator('.state-filter').inputValue(), '');
    // An agent that is not running at the record shown is shown where it last ran.
    await page.locator('body').press('End');
    await page.waitForSelector(`.step[data-seq="${last}"]`);
    await page.waitForSelector('.agent-entry.idle[data-path="researcher"]');
    await page.locator('.agent-entry[data-path="researcher"] button').click();
    await page.waitForSelector(`.step[data-seq="${researching}"]`);
    await page.waitForSelector('.agent-entry.selected[data-path="researcher"]:not(.idle)');
    await page.waitForFunction(() => /^Messages of researcher \(\d+\)$/.test((globalThis as unknown as { document: Doc }).document.querySelector('.messages-panel h3')?.textContent ?? ''));
    // Back to the run's own agent: the pipeline's messages and chart.
    await page.locator('.agent-entry[data-path=""] button').click();
    await page.waitForSelector('#diagram [id="state:pipeline.research"].current');
    await page.waitForFunction(() => /^Messages \(0\) · the agents it invokes/.test((globalThis as unknown as { document: Doc }).document.querySelector('.messages-panel h3')?.textContent ?? ''));
  });
});

test.run();
