// `npm run bench`: each configuration runs in a fresh process, runs are interleaved, and the table
// reports medians. "added" is the runtime's time per step minus the hand-rolled loop's (and the bare XState loop's).
// `npm run bench -- cli` runs only the CLI start-up part, `npm run bench -- loop` only the loop,
// `npm run bench -- inspector` only the inspector page's figures in Chromium,
// `npm run bench -- context` only the context update (an immer draft against today's assign and diff),
// `npm run bench -- compaction` only the input tokens a long tool-heavy task sends with and without compaction.
// `npm run bench -- memory` only memory recall latency (100,000 notes, SQLite and PostgreSQL).
// `npm run bench -- service` only the hosted service under load (SSE clients, run creations, reads; see serviceBench.ts).
// `npm run bench -- rss` only the peak RSS of a 1,000-step run against a hand-rolled loop's.
// `npm run bench -- workers` only many workers on one PostgreSQL (throughput, memory, takeover).
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { cliStartup } from './cliStartup.ts';
import { compactionBench } from './compactionBench.ts';
import { contextUpdate } from './contextUpdate.ts';
import { inspectorBench } from './inspectorBench.ts';
import { memoryRecall } from './memoryRecall.ts';
import { serviceBench } from './serviceBench.ts';
import { peakRss } from './peakRss.ts';

interface Sample { mode: string; steps: number; ms: number; msPerStep: number; peakRssMb: number; storedBytes?: number; rep: number }

const reps = Number(process.env.BENCH_REPS ?? 5);
const sizes = (process.env.BENCH_STEPS ?? '100,1000').split(',').map(Number);
const modes = (process.env.BENCH_MODES ?? 'hand,xstate,runtime,sqlite,postgres').split(',');
const here = import.meta.dirname;

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

const parts = process.argv.slice(2);
const PARTS = ['loop', 'cli', 'inspector', 'context', 'compaction', 'memory', 'rss', 'workers', 'service'];
const unknown = parts.filter((part) => !PARTS.includes(part));
if (unknown.length) throw new Error(`Unknown bench part ${unknown.join(', ')}: name ${PARTS.join(', ')}, or none (all).`);
const wanted = (part: string) => parts.length === 0 || parts.includes(part);

function loopTable(): string {
  const samples: Sample[] = [];
  for (let rep = 0; rep < reps; rep++) {
    for (const steps of sizes) {
      for (const mode of rep % 2 ? [...modes].reverse() : modes) {
        const out = execFileSync(process.execPath, ['--import', 'tsx', resolve(here, 'loop.ts'), mode, String(steps)], {
          cwd: resolve(here, '..'),
          encoding: 'utf8',
          env: { ...process.env, OPENAI_API_KEY: '', OPENAI_BASE_URL: '' },
        });
        const sample = { ...(JSON.parse(out.trim().split('\n').at(-1)!) as Sample), rep };
        samples.push(sample);
        process.stderr.write(`rep ${rep + 1}/${reps} ${mode} N=${steps}: ${sample.msPerStep.toFixed(3)} ms/step\n`);
      }
    }
  }

  const rows: string[] = [];
  rows.push(
    `Median of ${reps} runs each, fresh process per run, interleaved. Node ${process.version}. Modes: hand = a hand-rolled`,
    'loop on the openai client; xstate = the same work as the smallest XState loop (two states, each invoking a promise), for',
    'scale; runtime = Statecraft, no store; sqlite / postgres = Statecraft recording every transition.',
    `The tool returns ${process.env.BENCH_TOOL_BYTES ? `about ${process.env.BENCH_TOOL_BYTES} bytes of text besides its sum (BENCH_TOOL_BYTES)` : 'its sum only'}.`,
    '"Added" is the median, over the reps, of the difference from the hand-rolled (or bare XState) run of the same rep.',
    '',
  );
  rows.push(
    '| mode | N | ms/step | added over hand-rolled, ms/step | added over bare XState, ms/step | recording: added over no store, ms/step | peak RSS MB | stored |',
    '|---|---|---|---|---|---|---|---|',
  );
  for (const steps of sizes) {
    // Each rep runs every mode back to back, so a machine that drifts over minutes moves both sides of
    // a pair alike: an added time is the median of the per-rep differences.
    const addedOver = (mine: Sample[], baseMode: string) => {
      const base = (rep: number) => samples.find((s) => s.mode === baseMode && s.steps === steps && s.rep === rep);
      const pairs = mine.flatMap((s) => (base(s.rep) ? [s.msPerStep - base(s.rep)!.msPerStep] : []));
      return pairs.length && mine[0]?.mode !== baseMode ? median(pairs).toFixed(3) : '-';
    };
    for (const mode of modes) {
      const mine = samples.filter((s) => s.mode === mode && s.steps === steps);
      const perStep = median(mine.map((s) => s.msPerStep));
      const overXState = mode === 'hand' ? '-' : addedOver(mine, 'xstate');
      const stored = mine[0]?.storedBytes === undefined ? '-' : `${(median(mine.map((s) => s.storedBytes!)) / 1e6).toFixed(2)} MB`;
      const overRuntime = mode === 'sqlite' || mode === 'postgres' ? addedOver(mine, 'runtime') : '-';
      rows.push(`| ${mode} | ${steps} | ${perStep.toFixed(3)} | ${addedOver(mine, 'hand')} | ${overXState} | ${overRuntime} | ${median(mine.map((s) => s.peakRssMb)).toFixed(0)} | ${stored} |`);
    }
  }
  return rows.join('\n');
}

if (wanted('loop')) {
  const table = loopTable();
  console.log(table);
  if (process.env.BENCH_WRITE) {
    // Only the table between the markers is replaced; the notes around it are kept.
    const file = resolve(here, 'RESULTS.md');
    const current = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmark results\n\n<!-- table -->\n<!-- /table -->\n';
    writeFileSync(file, current.replace(/<!-- table -->[\s\S]*<!-- \/table -->/, `<!-- table -->\n${table}\n<!-- /table -->`));
  }
}

if (wanted('cli')) console.log(`\n${await cliStartup()}`);
if (wanted('inspector')) console.log(`\n${await inspectorBench()}`);
if (wanted('context')) console.log(`\n${contextUpdate()}`);
if (wanted('compaction')) console.log(`\n${await compactionBench()}`);
if (wanted('memory')) console.log(`\n${await memoryRecall()}`);
if (wanted('service')) console.log(`\n${await serviceBench()}`);
if (wanted('rss')) console.log(`\n${await peakRss()}`);
// Imported when asked for: it loads the worker agent (and pg) at import.
if (wanted('workers')) console.log(`\n${await (await import('./workersBench.ts')).workersBench()}`);
