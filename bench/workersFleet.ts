// Helpers of the workers bench: the scripted model every worker calls, worker processes of the built
// CLI with their events timed as they arrive, their RSS sampled from /proc, and runs submitted.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import pg from 'pg';
import type { RunStore } from '../src/index.ts';
import { startScriptedServer, type ScriptReply, type ScriptRequest, type ScriptedServer } from '../src/testing/index.ts';
import { submitRun } from '../src/worker/submitRun.ts';

export const root = resolve(import.meta.dirname, '..');
export const PG_URL = process.env.STATECRAFT_BENCH_PG ?? 'postgres://postgres@127.0.0.1:5432/test';
/** Steps of every run: nine turns calling a tool, then the answer. */
export const STEPS = 10;

type Agent = Parameters<typeof submitRun>[0];
let loaded: Agent | undefined;

/**
 * The bench's agent made from the sources, its model at the scripted server (started first): the
 * agent's own model port is what its runs call, whatever port `runAgent` is given.
 */
export async function benchAgent(): Promise<Agent> {
  if (!process.env.MODEL_URL) throw new Error('start the scripted model (startModel) before loading the bench agent');
  process.env.BENCH_STATECRAFT_ENTRY = '../src/index.ts';
  // @ts-expect-error a plain JavaScript module, typed here
  return (loaded ??= ((await import('./workersAgent.mjs')) as { agent: Agent }).agent);
}

/** The model's turn by the conversation alone, so any worker can serve any turn of any run. */
export function reply(request: ScriptRequest, delayMs: number): ScriptReply {
  const turn = request.messages.filter((message) => message.role === 'assistant').length;
  return turn < STEPS - 1 ? { toolCalls: [{ id: `call_${turn}`, name: 'lookup', arguments: { key: `k${turn}` } }], delayMs } : { content: 'done', delayMs };
}

/** The scripted model, its answer delay changed between parts with `delay.ms`. */
export async function startModel(): Promise<{ server: ScriptedServer; delay: { ms: number } }> {
  const delay = { ms: 200 };
  const server = await startScriptedServer((_, request) => reply(request, delay.ms), { keepRequests: 1 });
  process.env.MODEL_URL = server.url;
  return { server, delay };
}

export interface WorkerEventAt {
  at: number;
  type: string;
  runId?: string;
  workerId?: string;
  resumed?: boolean;
}

export interface WorkerProcess {
  child: ChildProcess;
  events: WorkerEventAt[];
  output: string;
  exited: Promise<void>;
}

/** Starts `statecraft worker` (the built CLI, plain Node) and resolves once it says it started. */
export async function startWorkerProcess(storeUrl: string, modelUrl: string, concurrency: number, lease: string): Promise<WorkerProcess> {
  const child = spawn(
    process.execPath,
    ['bin/statecraft.js', 'worker', '--agents', 'bench/workersAgent.mjs', '--store', storeUrl, '--concurrency', String(concurrency), '--lease', lease, '--poll', '100ms', '--grace', '2s', '--json'],
    { cwd: root, env: { ...process.env, MODEL_URL: modelUrl, BENCH_STATECRAFT_ENTRY: '', NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const worker: WorkerProcess = { child, events: [], output: '', exited: once(child, 'exit').then(() => {}) };
  let partial = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    const at = Date.now();
    const lines = (partial + chunk).split('\n');
    partial = lines.pop()!;
    for (const line of lines) {
      if (line.startsWith('{')) worker.events.push({ at, ...(JSON.parse(line) as Omit<WorkerEventAt, 'at'>) });
      else worker.output += `${line}\n`;
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (worker.output += chunk));
  const until = Date.now() + 60_000;
  while (!worker.events.some((event) => event.type === 'worker.started')) {
    if (child.exitCode !== null || Date.now() > until) throw new Error(`a worker process did not start (exit ${child.exitCode}): ${worker.output.slice(-2000)}`);
    await new Promise((done) => setTimeout(done, 50));
  }
  return worker;
}

export async function stopWorkers(workers: WorkerProcess[]): Promise<void> {
  for (const worker of workers) if (worker.child.exitCode === null && worker.child.signalCode === null) worker.child.kill('SIGTERM');
  await Promise.all(workers.map((worker) => worker.exited));
}

/** A process's resident set now, in MB (VmRSS); 0 once it has exited. */
export function rssMb(pid: number): number {
  try {
    return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
  } catch {
    return 0;
  }
}

/** CPU time a process has used so far, user and system, in seconds (/proc/<pid>/stat, clock ticks of 1/100 s). */
export function cpuSeconds(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

/** Samples the sum of the processes' RSS every `everyMs` until stopped; returns the peak sum. */
export function sampleRss(pids: () => number[], everyMs = 100): { stop: () => number } {
  let peak = 0;
  const timer = setInterval(() => (peak = Math.max(peak, pids().reduce((sum, pid) => sum + rssMb(pid), 0))), everyMs);
  return { stop: () => (clearInterval(timer), peak) };
}

/** Queues `count` runs, a few at a time; returns their ids. */
export async function submitRuns(store: RunStore, count: number, label: string): Promise<string[]> {
  const agent = await benchAgent();
  const ids: string[] = [];
  for (let i = 0; i < count; i += 10) {
    const batch = Array.from({ length: Math.min(10, count - i) }, (_, j) => submitRun(agent, `${label} ${i + j}`, { store }).then((s) => s.runId));
    ids.push(...(await Promise.all(batch)));
  }
  return ids;
}

/** Every event of one type across the workers, by arrival time. */
export const eventsOf = (workers: WorkerProcess[], type: string): WorkerEventAt[] =>
  workers.flatMap((worker) => worker.events.filter((event) => event.type === type)).sort((a, b) => a.at - b.at);

/** Waits until `count` runs ended across the workers; throws after `timeoutMs`. */
export async function endedRuns(workers: WorkerProcess[], count: number, timeoutMs: number): Promise<WorkerEventAt[]> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const ended = eventsOf(workers, 'run.ended');
    if (ended.length >= count) return ended;
    if (Date.now() > until) throw new Error(`only ${ended.length} of ${count} runs ended within ${timeoutMs} ms: ${workers.map((w) => w.output.slice(-500)).join('\n')}`);
    await new Promise((done) => setTimeout(done, 100));
  }
}

/** The machine's load average over the last minute, for beside each figure (other work shares the cores). */
export const load = (): number => loadavg()[0]!;

export async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await client.query(`DROP SCHEMA IF EXISTS "${schema}_queue" CASCADE`);
  await client.end();
}
