// The inspector page on a 10,000-step run (40,000 records, 20,000 messages), in Chromium: first paint,
// scrubbing to another record, the DOM's size and a step's timing view, each beside its target, and
// where a far jump's time goes, in the page and on the server. Times are taken inside the
// page (performance.now(), from navigation or from the input), so the driver's own delays are left out.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { startInspector } from '../src/inspector/startInspector.ts';
import { SqliteStore } from '../src/log/stores/sqlite/sqliteStore.ts';
import { writeLongRun } from '../test/fixtures/longRun.ts';
import { serverFigures } from './inspectorServer.ts';

const CHROMIUM = '/usr/bin/chromium';
const STEPS = Number(process.env.BENCH_INSPECTOR_STEPS ?? 10_000);
const LOADS = 5;
const SCRUBS = 30;

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const worst = (values: number[]) => Math.max(...values);

type Page = import('playwright-core').Page;
type Doc = { querySelector(selector: string): unknown; getElementsByTagName(name: string): { length: number } };

/** The page's own time when the record `seq`, its timeline row and its messages are drawn. */
const paintedAt = async (page: Page, seq: number): Promise<number> => {
  const handle = await page.waitForFunction(
    (wanted) => {
      const d = (globalThis as unknown as { document: Doc }).document;
      const ready = d.querySelector(`.step[data-seq="${wanted}"]`) && d.querySelector(`.timeline li[data-seq="${wanted}"]:not(.pending)`) && d.querySelector(`.messages[data-seq="${wanted}"] .message:not(.pending)`);
      return ready ? (globalThis as unknown as { performance: { now(): number } }).performance.now() : 0;
    },
    seq,
    { polling: 'raf', timeout: 60_000 },
  );
  return (await handle.jsonValue()) as number;
};

/** Where a jump's time went in the page: its record's request (sent, server's wait, transfer, size) and what came after it. */
interface JumpParts {
  ms: number;
  sentMs?: number;
  waitMs?: number;
  transferMs?: number;
  afterMs?: number;
  bytes?: number;
}

/**
 * Moves to `seq` (the slider, or an arrow key when it is next to the current record) and returns the
 * page's time until it is drawn, with the parts of the record's request when it was asked for then.
 * With `until`, waits instead for that selector (the step's timing view, say).
 */
const scrubParts = (page: Page, seq: number, key?: string, until?: string): Promise<JumpParts> =>
  page.evaluate(
    ({ seq, key, until }) =>
      new Promise<JumpParts>((resolve, reject) => {
        const g = globalThis as unknown as {
          document: { body: unknown; dispatchEvent(event: unknown): void; querySelector(selector: string): { value: string; dispatchEvent(event: unknown): void } | null };
          performance: { now(): number; clearResourceTimings(): void; getEntriesByType(type: string): { name: string; startTime: number; requestStart: number; responseStart: number; responseEnd: number; encodedBodySize: number }[] };
          requestAnimationFrame(callback: () => void): void;
          MutationObserver: new (callback: () => void) => { observe(node: unknown, options: unknown): void; disconnect(): void };
          KeyboardEvent: new (type: string, init: unknown) => unknown;
          Event: new (type: string, init: unknown) => unknown;
        };
        g.performance.clearResourceTimings();
        const started = g.performance.now();
        setTimeout(() => reject(new Error(`record ${seq} was not drawn within 30 s`)), 30_000);
        // No named functions in here: tsx would wrap them in a helper the page does not have.
        const observer = new g.MutationObserver(() => {
          const d = g.document;
          if (until ? !d.querySelector(until) : !(d.querySelector(`.step[data-seq="${seq}"]`) && d.querySelector(`.timeline li.selected[data-seq="${seq}"]:not(.pending)`) && d.querySelector(`.messages[data-seq="${seq}"] .message:not(.pending)`))) return;
          observer.disconnect();
          // Drawn in the DOM: the time is taken at the next frame, as the user sees it.
          const drawn = g.performance.now();
          g.requestAnimationFrame(() => {
            const ms = g.performance.now() - started;
            const wanted = until ? `/at/${seq}/timing` : `/at/${seq}?`;
            const request = g.performance.getEntriesByType('resource').find((entry) => entry.name.includes(wanted));
            if (!request) return resolve({ ms });
            resolve({
              ms,
              sentMs: request.startTime - started,
              waitMs: request.responseStart - request.requestStart,
              transferMs: request.responseEnd - request.responseStart,
              afterMs: drawn - request.responseEnd,
              bytes: request.encodedBodySize,
            });
          });
        });
        observer.observe(g.document.body, { childList: true, subtree: true, attributes: true });
        if (key) g.document.dispatchEvent(new g.KeyboardEvent('keydown', { key, bubbles: true }));
        else {
          const slider = g.document.querySelector('#seq-slider')!;
          slider.value = String(seq);
          slider.dispatchEvent(new g.Event('input', { bubbles: true }));
        }
      }),
    { seq, key, until },
  );
const scrub = async (page: Page, seq: number, key?: string): Promise<number> => (await scrubParts(page, seq, key)).ms;

const domNodes = (page: Page) => page.evaluate(() => (globalThis as unknown as { document: Doc }).document.getElementsByTagName('*').length);

/** The inspector figures as a table, each beside its target. */
export async function inspectorBench(): Promise<string> {
  if (!existsSync(CHROMIUM)) return `Inspector figures skipped: no browser at ${CHROMIUM} (apt-get install chromium).`;
  const dir = mkdtempSync(join(tmpdir(), 'statecraft-inspector-bench-'));
  const store = new SqliteStore({ path: join(dir, 'runs.db') });
  const built = performance.now();
  const runId = await writeLongRun(store, STEPS);
  const buildMs = performance.now() - built;
  const { lastSeq } = await store.summary(runId);
  const inspector = await startInspector({ store });
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-sync'] });
  try {
    // An inspector that has been up a moment: its diagram, drawn when it starts, is ready.
    await fetch(new URL('/api/machines/agent.svg', inspector.url));
    const nodes: number[] = [];
    const loads: number[] = [];
    let page: Page | undefined;
    for (let i = 0; i < LOADS; i++) {
      await page?.close();
      page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
      await page.goto(`${inspector.url}#/runs/${encodeURIComponent(runId)}`);
      loads.push(await paintedAt(page, lastSeq));
      await page.locator('#diagram svg').waitFor();
      nodes.push(await domNodes(page));
    }
    page = page!;
    process.stderr.write(`inspector: first paint ${loads.map((ms) => ms.toFixed(0)).join(', ')} ms\n`);

    const steps: number[] = [];
    for (let i = 1; i <= SCRUBS; i++) steps.push(await scrub(page, lastSeq - i, 'ArrowLeft'));
    nodes.push(await domNodes(page));
    const jumps: number[] = [];
    const parts: JumpParts[] = [];
    const far = Array.from({ length: SCRUBS }, (_, i) => Math.floor(((i * 7919) % SCRUBS) / SCRUBS * lastSeq) + 1);
    for (const seq of far) {
      const jump = await scrubParts(page, seq);
      jumps.push(jump.ms);
      parts.push(jump);
      nodes.push(await domNodes(page));
    }
    // The step's timing view after a jump to a step not seen yet: until it is drawn, and its own drawing.
    const timings: JumpParts[] = [];
    for (let i = 0; i < SCRUBS; i++) {
      const seq = 4 * Math.floor(((i * 7919 + 3) % SCRUBS) / SCRUBS * (STEPS - 2) + 7) + 3;
      timings.push(await scrubParts(page, seq, undefined, `.timing-panel[data-from="${seq - 2}"]`));
      nodes.push(await domNodes(page));
    }
    const backSteps: number[] = [];
    const third = Math.floor(lastSeq / 3);
    await scrub(page, third);
    for (let i = 1; i <= SCRUBS; i++) backSteps.push(await scrub(page, third + i, 'ArrowRight'));
    // Both lists scrolled by hand to their top and middle.
    for (const where of [0, 0.5]) {
      await page.$eval('.timeline', (list, at) => ((list as unknown as { scrollTop: number; scrollHeight: number }).scrollTop = at * (list as unknown as { scrollHeight: number }).scrollHeight), where);
      await page.$eval('.messages', (list, at) => ((list as unknown as { scrollTop: number; scrollHeight: number }).scrollTop = at * (list as unknown as { scrollHeight: number }).scrollHeight), where);
      await page.waitForTimeout(500);
      nodes.push(await domNodes(page));
    }
    // The timing view's own drawing: built from a step's answer, put in the page and laid out.
    const renders = await page.evaluate(
      async ({ runId, seqs }) => {
        const g = globalThis as unknown as { performance: { now(): number }; document: { querySelector(s: string): { replaceChildren(...nodes: unknown[]): void } | null } };
        // Paths in variables, and no named functions in here: tsx would wrap them in a helper the page does not have.
        const paths = ['/api.js', '/timing.js'];
        const { getJson } = (await import(paths[0]!)) as Record<string, (...args: unknown[]) => Promise<unknown>>;
        const { timingPanel } = (await import(paths[1]!)) as Record<string, (...args: unknown[]) => unknown>;
        const box = g.document.querySelector('.timing-box')!;
        const times: number[] = [];
        for (const seq of seqs) {
          const timing = await getJson!(`/api/runs/${encodeURIComponent(runId)}/at/${seq}/timing`);
          const started = g.performance.now();
          const panel = timingPanel!(timing, () => {}) as { getBoundingClientRect(): unknown };
          box.replaceChildren(panel);
          panel.getBoundingClientRect();
          times.push(g.performance.now() - started);
        }
        return times;
      },
      { runId, seqs: far },
    );
    const adjacent = [...steps, ...backSteps];
    // The server's parts of the same far jumps, on a handle of its own that has read nothing yet.
    const fresh = new SqliteStore({ path: join(dir, 'runs.db') });
    const server = await serverFigures(fresh, runId, far).finally(() => fresh.close());
    const partsOf = (key: keyof JumpParts) => parts.flatMap((part) => (part[key] === undefined ? [] : [part[key]!]));
    const asked = partsOf('waitMs').length;
    const row = (figure: string, measured: string, target: string, within: boolean) => `| ${figure} | ${measured} | ${target} | ${within ? 'within' : 'OVER'} |`;
    const part = (figure: string, values: number[], digits = 1) =>
      `| ${figure} | ${values.length ? median(values).toFixed(digits) : '-'} | ${values.length ? worst(values).toFixed(digits) : '-'} | part of a jump's ≤ 50 ms |`;
    return [
      `Inspector on a ${STEPS.toLocaleString('en-US')}-step run (${(lastSeq + 1).toLocaleString('en-US')} records, written in ${(buildMs / 1000).toFixed(1)} s), Chromium at 1400x900,`,
      `times inside the page. Load average ${loadavg().map((n) => n.toFixed(1)).join(' / ')} on this machine.`,
      '',
      '| figure | measured | target | |',
      '|---|---|---|---|',
      row('first paint, first load after start (ms)', loads[0]!.toFixed(0), '≤ 1000', loads[0]! <= 1000),
      row(`first paint, median of ${LOADS} loads (ms)`, median(loads).toFixed(0), '≤ 1000', median(loads) <= 1000),
      row(`scrub to the next record, median of ${adjacent.length} (ms)`, median(adjacent).toFixed(0), '≤ 50', median(adjacent) <= 50),
      row('scrub to the next record, worst (ms)', worst(adjacent).toFixed(0), '≤ 50', worst(adjacent) <= 50),
      row(`scrub to a record anywhere, median of ${jumps.length} (ms)`, median(jumps).toFixed(0), '≤ 50', median(jumps) <= 50),
      row('scrub to a record anywhere, worst (ms)', worst(jumps).toFixed(0), '≤ 50', worst(jumps) <= 50),
      row('DOM nodes, most at any point', String(worst(nodes)), '≤ 5000', worst(nodes) <= 5000),
      row(`step timing view drawn after a jump to a new step, median of ${timings.length} (ms)`, median(timings.map((t) => t.ms)).toFixed(0), '≤ 50', median(timings.map((t) => t.ms)) <= 50),
      row('step timing view drawn after a jump, worst (ms)', worst(timings.map((t) => t.ms)).toFixed(0), '≤ 50', worst(timings.map((t) => t.ms)) <= 50),
      row(`step timing view's drawing (built, put in the page, laid out), median of ${renders.length} (ms)`, median(renders).toFixed(1), '≤ 16 (a frame)', median(renders) <= 16),
      row("step timing view's drawing, worst (ms)", worst(renders).toFixed(1), '≤ 16 (a frame)', worst(renders) <= 16),
      '',
      `Where a far jump's time goes, medians over the ${SCRUBS} far jumps above (the record's request was made at the jump in ${asked} of them):`,
      '',
      '| part | median | worst | target |',
      '|---|---|---|---|',
      part('page: input to the record asked for (ms)', partsOf('sentMs')),
      part("page: the server's wait for the record's view (ms)", partsOf('waitMs')),
      part('page: transfer of the view (ms)', partsOf('transferMs')),
      part('page: the view received to the record drawn (ms)', partsOf('afterMs')),
      part('view JSON as sent (bytes)', partsOf('bytes'), 0),
      part('server, alone: stateAt from the nearest keyframe or indexed state (ms)', server.stateAtMs),
      part("server, alone: the record's row (ms)", server.rowMs),
      part('server, alone: the step view with its message window, as JSON (ms)', server.viewMs),
      part('server, alone: step view JSON (bytes)', server.viewBytes, 0),
      part('server, alone: messages in the window', server.windowMessages, 0),
      part('server, alone: the rows drawn around the record, about 110 (ms)', server.rowsMs),
      part("server, alone: the step's timing (ms)", server.timingMs),
      part("server, alone: the step's timing JSON (bytes)", server.timingBytes, 0),
    ].join('\n');
  } finally {
    await browser.close();
    await inspector.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
