// The CLI's start-up, as a user meets it: the built CLI (`node bin/statecraft.js`) spawned afresh for
// each sample, commands interleaved, medians reported beside their targets. `node -e 0` is measured
// the same way, so that a busy machine shows in the baseline rather than passing for a slow CLI.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const RUNS = 1_000;

/** The newest modification time under `dir`, in ms. */
function newest(dir: string): number {
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) latest = Math.max(latest, statSync(join(entry.parentPath, entry.name)).mtimeMs);
  }
  return latest;
}

/** Builds dist/ when it is missing or older than a source file: the bench measures the code as it is. */
export function buildIfStale(): void {
  const built = statSync(join(root, 'dist/src/cli/main.js'), { throwIfNoEntry: false })?.mtimeMs ?? 0;
  if (built >= Math.max(newest(join(root, 'src')), newest(join(root, 'machines')))) return;
  process.stderr.write('dist/ is older than src/: building first\n');
  execFileSync(process.execPath, [join(root, 'scripts/build.mjs')], { cwd: root, stdio: 'inherit' });
}

/** A SQLite store holding RUNS runs: one short recorded run (a tool call, then an answer), imported again under new ids. */
export async function storeOfRuns(file: string): Promise<void> {
  const { importRun, openStore, runAgent } = await import('../src/index.ts');
  const { exportRunText } = await import('../src/log/exchange/jsonl.ts');
  const { scriptedModel } = await import('../src/testing/index.ts');
  const { agent } = await import('./logBenchAgent.ts');
  const store = openStore(`sqlite:${file}`);
  try {
    const model = scriptedModel([{ toolCalls: [{ id: 'call_1', name: 'add', arguments: { a: 1, b: 2 } }] }, { content: 'three' }]);
    const first = await runAgent(agent, 'add 1 and 2', { model, store });
    const text = await exportRunText(store, first.runId);
    for (let i = 1; i < RUNS; i++) await importRun(store, text, { newRunId: `${first.runId.slice(0, 23)}-${String(i).padStart(4, '0')}` });
  } finally {
    await store.close();
  }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

function timeOnce(args: string[], cwd: string): number {
  const started = performance.now();
  const result = spawnSync(process.execPath, args, { cwd, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  const ms = performance.now() - started;
  if (result.status !== 0) throw new Error(`node ${args.join(' ')} exited ${result.status}: ${result.stderr}`);
  return ms;
}

/** The start-up table: each command's median over `reps` fresh processes, beside its target. */
export async function cliStartup(reps = Number(process.env.BENCH_CLI_REPS ?? 11)): Promise<string> {
  buildIfStale();
  const dir = mkdtempSync(join(tmpdir(), 'statecraft-clibench-'));
  try {
    const file = join(dir, 'runs.db');
    process.stderr.write(`recording a store of ${RUNS} runs\n`);
    await storeOfRuns(file);
    const cli = join(root, 'bin/statecraft.js');
    const cases = [
      { label: 'node -e 0 (baseline: a bare Node start)', args: ['-e', '0'], target: undefined },
      { label: '`statecraft --version`', args: [cli, '--version'], target: 150 },
      { label: '`statecraft --help`', args: [cli, '--help'], target: 200 },
      { label: `\`statecraft runs\`, SQLite store of ${RUNS.toLocaleString('en-US')} runs`, args: [cli, 'runs', '--store', file], target: 400 },
    ];
    // One unmeasured pass warms the file cache; then each rep runs every case, in alternating order.
    for (const { args } of cases) timeOnce(args, dir);
    const samples = new Map(cases.map(({ label }) => [label, [] as number[]]));
    for (let rep = 0; rep < reps; rep++) {
      for (const { label, args } of rep % 2 ? [...cases].reverse() : cases) samples.get(label)!.push(timeOnce(args, dir));
    }
    const baseline = samples.get(cases[0]!.label)!;
    // Each rep measures the bare start beside the commands: the difference, rep by rep, is what the CLI adds, and moves less with the machine's load.
    const added = (ms: number[]) => median(ms.map((value, rep) => value - baseline[rep]!));
    const rows = [
      `CLI start-up: median of ${reps} fresh processes each, interleaved, built CLI (node bin/statecraft.js). Node ${process.version}.`,
      '"Over bare Node" is the median, over the reps, of the difference from `node -e 0` in the same rep.',
      '',
      '| command | median ms | min ms | over bare Node, ms | target ms | |',
      '|---|---|---|---|---|---|',
      ...cases.map(({ label, target }, index) => {
        const ms = samples.get(label)!;
        const verdict = target === undefined ? '' : median(ms) <= target ? 'within' : 'OVER';
        return `| ${label} | ${median(ms).toFixed(0)} | ${Math.min(...ms).toFixed(0)} | ${index === 0 ? '-' : added(ms).toFixed(0)} | ${target ?? '-'} | ${verdict} |`;
      }),
    ];
    return rows.join('\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
