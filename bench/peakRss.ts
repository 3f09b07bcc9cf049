// Peak RSS of one long run (BENCH_RSS_STEPS, default 1,000 steps) whose tool returns about 1 KB a call:
// a hand-rolled loop on the openai client against Statecraft's runAgent with no store and with SQLite,
// each in a fresh plain-Node process (bench/rssLoop.mjs; Statecraft from dist/), the scripted model in
// a process of its own. Peak RSS is the process's VmHWM. Reported beside the target: ≤ 1.2× the hand-rolled loop's.
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { resolve } from 'node:path';
import { buildIfStale } from './cliStartup.ts';

const root = resolve(import.meta.dirname, '..');
const TARGET_RATIO = 1.2;

interface Sample { mode: string; peakRssMb: number; msPerStep: number; peaks: { heapTotal: number; heapUsed: number; external: number } }

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

/** Starts bench/rssServer.ts and returns its URL and a function that stops it. */
async function startServer(steps: number): Promise<{ url: string; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', resolve(root, 'bench/rssServer.ts'), String(steps)], { cwd: root, stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  while (!out.includes('\n')) {
    if (child.exitCode !== null) throw new Error(`the scripted model's process exited with ${child.exitCode} before printing its URL`);
    await new Promise((done) => setTimeout(done, 50));
  }
  return {
    url: out.trim(),
    stop: async () => {
      child.stdin!.end();
      if (child.exitCode === null) await once(child, 'exit');
    },
  };
}

/** The peak-RSS table: medians of BENCH_RSS_REPS (default 5) fresh processes per mode, interleaved. */
export async function peakRss(): Promise<string> {
  const steps = Number(process.env.BENCH_RSS_STEPS ?? 1000);
  const reps = Number(process.env.BENCH_RSS_REPS ?? 5);
  const modes = ['hand', 'runtime', 'sqlite'];
  buildIfStale();
  const server = await startServer(steps);
  const samples: Sample[] = [];
  try {
    for (let rep = 0; rep < reps; rep++) {
      for (const mode of rep % 2 ? [...modes].reverse() : modes) {
        const out = execFileSync(process.execPath, [resolve(root, 'bench/rssLoop.mjs'), mode, String(steps), server.url], { cwd: root, encoding: 'utf8' });
        const sample = JSON.parse(out.trim().split('\n').at(-1)!) as Sample;
        samples.push(sample);
        process.stderr.write(`rss rep ${rep + 1}/${reps} ${mode}: ${sample.peakRssMb.toFixed(0)} MB\n`);
      }
    }
  } finally {
    await server.stop();
  }
  const of = (mode: string) => samples.filter((s) => s.mode === mode);
  const hand = median(of('hand').map((s) => s.peakRssMb));
  const rows = [
    `Peak RSS (VmHWM) of one ${steps}-step run, tool result about 1 KB a call; median of ${reps} fresh plain-Node processes per mode, interleaved, the scripted model in a process of its own. Node ${process.version}.`,
    '',
    '| mode | peak RSS MB (min-max) | × hand-rolled | peak V8 heap MB | ms/step | target | |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const mode of modes) {
    const mine = of(mode);
    const rss = median(mine.map((s) => s.peakRssMb));
    const ratio = rss / hand;
    const range = `${Math.min(...mine.map((s) => s.peakRssMb)).toFixed(0)}-${Math.max(...mine.map((s) => s.peakRssMb)).toFixed(0)}`;
    const verdict = mode === 'hand' ? '' : ratio <= TARGET_RATIO ? 'within' : 'OVER';
    rows.push(`| ${mode} | ${rss.toFixed(0)} (${range}) | ${ratio.toFixed(2)} | ${median(mine.map((s) => s.peaks.heapTotal)).toFixed(0)} | ${median(mine.map((s) => s.msPerStep)).toFixed(2)} | ${mode === 'hand' ? '-' : `≤ ${TARGET_RATIO}×`} | ${verdict} |`);
  }
  return rows.join('\n');
}

if (process.argv[1] === import.meta.filename) console.log(await peakRss());
