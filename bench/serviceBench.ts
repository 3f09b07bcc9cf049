// `npm run bench -- service`: the hosted service (`statecraft serve`) under load on loopback, in a
// child process of its own (so that the load and the server do not share an event loop), its agent's
// model the scripted OpenAI-compatible server in a third process. Held for BENCH_SERVICE_SECONDS (60)
// after a warm-up: BENCH_SSE_CLIENTS (200) SSE clients following runs, BENCH_CREATES (50) POST
// /v1/runs a second, and reads of runs, run lists and usage. Reported beside the targets (issue 10):
// no error, 200 streams held, 50 creations a second, p99 of the non-streaming endpoints ≤ 50 ms.
// BENCH_SERVICE_STORES=sqlite,postgres picks the stores; BENCH_SERVICE_PROFILE=<dir> writes the
// server's CPU profile there (node --cpu-prof).
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createApiKey } from '../src/service/auth/apiKeys.ts';
import { openServiceStore } from '../src/service/store/openServiceStore.ts';
import { runLoad, type LoadFigures, type Tenant } from './serviceLoad.ts';

const here = import.meta.dirname;
const PG_URL = process.env.STATECRAFT_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const settings = {
  seconds: env('BENCH_SERVICE_SECONDS', 60),
  warmupSeconds: env('BENCH_SERVICE_WARMUP', 5),
  creates: env('BENCH_CREATES', 50),
  gets: env('BENCH_GETS', 20),
  lists: env('BENCH_LISTS', 5),
  usage: env('BENCH_USAGE', 5),
  sse: env('BENCH_SSE_CLIENTS', 200),
};
const TARGET_P99_MS = 50;

interface ServerStats {
  rss: number;
  maxRss: number;
  cpuMs: number;
  loopP99Ms: number;
  loopMaxMs: number;
  onCpuMs: number;
  runQueueMs: number;
}

/** Forks a bench child and waits for the URL it listens on. */
function start(script: string, childEnv: Record<string, string>, execArgv: string[] = []): Promise<{ child: ChildProcess; url: string }> {
  const child = fork(resolve(here, script), [], { execArgv: ['--import', 'tsx', ...execArgv], env: { ...process.env, ...childEnv }, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${script} exited (${code}) before it listened`)));
    child.on('message', (message: { type: string; url?: string }) => message.type === 'listening' && resolve({ child, url: message.url! }));
  });
}

const ask = (child: ChildProcess): Promise<ServerStats> =>
  new Promise((resolve) => {
    const answer = (message: ServerStats & { type: string }) => message.type === 'stats' && (child.off('message', answer), resolve(message));
    child.on('message', answer);
    child.send({ type: 'stats' });
  });

const stop = (child: ChildProcess) => new Promise<void>((resolve) => (child.exitCode !== null ? resolve() : (child.once('exit', () => resolve()), child.send({ type: 'stop' }))));

const percentile = (sorted: number[], p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((sorted.length * p) / 100) - 1)]! : NaN);

async function once(storeName: string): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'statecraft-bench-service-'));
  const store = storeName === 'postgres' ? `${PG_URL}?schema=bench_${Date.now().toString(36)}` : `sqlite:${join(dir, 'runs.db')}`;
  const profile = process.env.BENCH_SERVICE_PROFILE;
  const model = await start('serviceModel.ts', {});
  const server = await start('serviceServer.ts', { BENCH_STORE: store, BENCH_MODEL_URL: model.url, OPENAI_API_KEY: '', OPENAI_BASE_URL: '' }, profile ? ['--cpu-prof', `--cpu-prof-dir=${profile}`] : []);
  const service = openServiceStore(store);
  const tenants: Tenant[] = [];
  for (const id of ['acme', 'globex', 'initech', 'umbrella']) tenants.push({ id, key: (await createApiKey(service, { tenantId: id, scopes: ['runs:create', 'runs:read'] })).key });
  await service.close();
  const load0 = loadavg()[0]!;
  let before: ServerStats | undefined;
  let after: ServerStats | undefined;
  let cpu0 = process.cpuUsage();
  let wall0 = 0;
  let figures: LoadFigures;
  try {
    figures = await runLoad({
      url: server.url,
      tenants,
      createsPerSecond: settings.creates,
      getsPerSecond: settings.gets,
      listsPerSecond: settings.lists,
      usagePerSecond: settings.usage,
      sseClients: settings.sse,
      warmupMs: settings.warmupSeconds * 1000,
      measureMs: settings.seconds * 1000,
      drainMs: 20_000,
      onWindow: async (edge) => {
        if (edge === 'start') {
          before = await ask(server.child);
          cpu0 = process.cpuUsage();
          wall0 = performance.now();
        } else after = await ask(server.child);
      },
    });
  } finally {
    await stop(server.child);
    await stop(model.child);
    if (storeName === 'sqlite') rmSync(dir, { recursive: true, force: true });
  }
  const wallS = (performance.now() - wall0) / 1000;
  const load = cpuLoad(cpu0, wallS);
  const serverCpu = ((after!.cpuMs - before!.cpuMs) / 1000 / settings.seconds) * 100;
  const mainThread = { onCpuS: (after!.onCpuMs - before!.onCpuMs) / 1000, runQueueS: (after!.runQueueMs - before!.runQueueMs) / 1000 };
  return report(storeName, figures, { serverCpu, load, after: after!, mainThread, loadAvg: [load0, loadavg()[0]!] });
}

const cpuLoad = (since: NodeJS.CpuUsage, wallS: number) => {
  const used = process.cpuUsage(since);
  return ((used.user + used.system) / 1e6 / wallS) * 100;
};

function report(storeName: string, figures: LoadFigures, machine: { serverCpu: number; load: number; after: ServerStats; mainThread: { onCpuS: number; runQueueS: number }; loadAvg: number[] }): string[] {
  const errors = Object.values(figures.errors).reduce((a, b) => a + b, 0);
  const streams = [...figures.openStreams].sort((a, b) => a - b);
  const mean = streams.reduce((a, b) => a + b, 0) / Math.max(1, streams.length);
  const rows = [
    `**${storeName}**: ${settings.seconds} s measured after ${settings.warmupSeconds} s of warm-up; load average ${machine.loadAvg.map((value) => value.toFixed(1)).join(' → ')} (${cpus().length} cores).`,
    '',
    '| figure | measured | target |',
    '|---|---|---|',
    `| errors (non-2xx, resets, SSE drops, gaps, runs not done) | ${errors}${errors ? ` (${Object.entries(figures.errors).map(([kind, n]) => `${kind}: ${n}`).join(', ')})` : ''} | 0 |`,
    `| requests (non-streaming) | ${figures.requests} | - |`,
    `| run creations a second (201 answered within the window) | ${(figures.created / settings.seconds).toFixed(1)} | ${settings.creates} |`,
    `| SSE streams open (sampled every 250 ms) | min ${streams[0] ?? 0}, mean ${mean.toFixed(0)} | ${settings.sse} |`,
    `| SSE follows / planned reconnects / events delivered | ${figures.follows} / ${figures.plannedReconnects} / ${figures.events} | - |`,
    `| runs followed to their end | ${Object.entries(figures.runsEnded).map(([status, n]) => `${status} ${n}`).join(', ') || 'none'} | all done |`,
  ];
  for (const [name, values] of Object.entries(figures.latencies).sort()) {
    const sorted = [...values].sort((a, b) => a - b);
    const p99 = percentile(sorted, 99);
    rows.push(`| ${name} p50 / p95 / p99 ms (n ${sorted.length}) | ${percentile(sorted, 50).toFixed(1)} / ${percentile(sorted, 95).toFixed(1)} / **${p99.toFixed(1)}** | p99 ≤ ${TARGET_P99_MS}${p99 > TARGET_P99_MS ? ' (missed)' : ''} |`);
  }
  rows.push(
    `| server RSS at end / peak MB | ${(machine.after.rss / 1e6).toFixed(0)} / ${(machine.after.maxRss / 1e6).toFixed(0)} | - |`,
    `| server CPU (% of one core) / per run asked in the window, ms / event-loop delay p99, max ms | ${machine.serverCpu.toFixed(0)}% / ${((machine.serverCpu * 10 * settings.seconds) / Math.max(1, figures.createdEventually)).toFixed(1)} / ${machine.after.loopP99Ms.toFixed(1)}, ${machine.after.loopMaxMs.toFixed(0)} | - |`,
    `| server main thread: on a CPU / waiting in the run queue for one, s of ${settings.seconds} | ${machine.mainThread.onCpuS.toFixed(1)} / ${machine.mainThread.runQueueS.toFixed(1)} | - |`,
    `| load generator CPU (% of one core) | ${machine.load.toFixed(0)}% | - |`,
  );
  if (figures.errorSamples.length) rows.push('', 'First errors:', ...figures.errorSamples.map((sample) => `- ${sample}`));
  return rows;
}

/** The service part of `npm run bench`: a table per store. */
export async function serviceBench(): Promise<string> {
  const stores = (process.env.BENCH_SERVICE_STORES ?? 'sqlite').split(',');
  const out = [
    `Service under load (${settings.sse} SSE clients, ${settings.creates} POST /v1/runs, ${settings.gets} GET /v1/runs/{id}, ${settings.lists} GET /v1/runs and ${settings.usage} GET /v1/usage a second, open loop; latency counted from when a request was due). Node ${process.version}.`,
  ];
  for (const name of stores) out.push('', ...(await once(name)));
  return out.join('\n');
}
