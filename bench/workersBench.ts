// Many workers on one PostgreSQL (`npm run bench -- workers`): steps per second through one and two
// `statecraft worker` processes (the built CLI, plain Node) with a scripted model answering in 200 ms
// and at once, beside PostgreSQL's own append ceiling; the RSS of the worker processes holding 1,000
// runs at once; and the time from a worker's SIGKILL to its run's next record, written by another.
// Every figure is a median of BENCH_WORKER_REPS passes (default 3), each in a fresh schema.
import { randomBytes } from 'node:crypto';
import { cpus } from 'node:os';
import { PostgresStore } from '../src/index.ts';
import { buildIfStale } from './cliStartup.ts';
import { pgAppendCeiling } from './pgAppendCeiling.ts';
import { cpuSeconds, dropSchema, endedRuns, eventsOf, load, PG_URL, sampleRss, startModel, startWorkerProcess, STEPS, stopWorkers, submitRuns, type WorkerProcess } from './workersFleet.ts';

const reps = Number(process.env.BENCH_WORKER_REPS ?? 3);
// Low enough that the model's 200 ms, not the cores of a 2-core machine, holds one worker and two (40 and 80 steps/s at most).
const CONCURRENCY = Number(process.env.BENCH_WORKER_CONCURRENCY ?? 8);
const RUNS = Number(process.env.BENCH_WORKER_RUNS ?? 80);
const MEMORY_RUNS = Number(process.env.BENCH_WORKER_MEMORY_RUNS ?? 1000);
const LEASE_MS = Number(process.env.BENCH_WORKER_LEASE_MS ?? 2000);
const TARGETS = { scaling: 1.7, memoryMb: 1024, takeoverOverLeaseMs: 1000 };

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const freshSchema = (part: string) => `bench_${part}_${randomBytes(4).toString('hex')}`;
const storeUrl = (schema: string) => `${PG_URL}?schema=${schema}`;

/** A fleet of `count` worker processes on a fresh schema, given to `use`, then stopped and dropped. */
async function withFleet<T>(part: string, count: number, concurrency: number, lease: string, modelUrl: string, use: (store: PostgresStore, workers: WorkerProcess[], schema: string) => Promise<T>): Promise<T> {
  const schema = freshSchema(part);
  const store = new PostgresStore({ connectionString: PG_URL, schema });
  const workers: WorkerProcess[] = [];
  try {
    for (let i = 0; i < count; i++) workers.push(await startWorkerProcess(storeUrl(schema), modelUrl, concurrency, lease));
    return await use(store, workers, schema);
  } finally {
    await stopWorkers(workers);
    await store.close();
    await dropSchema(schema);
  }
}

/**
 * Steps per second of RUNS queued runs through `count` workers. The rate is read between the 10th and
 * the 90th percentile of the runs' ends, so that neither the workers' staggered start nor the last
 * runs' tail counts; the whole span, first ticket taken to last run ended, is returned too.
 */
async function throughput(count: number, modelUrl: string): Promise<{ steady: number; whole: number; cpuMsPerStep: number }> {
  return withFleet('tput', count, CONCURRENCY, '30s', modelUrl, async (store, workers) => {
    const cpu = () => workers.reduce((sum, worker) => sum + cpuSeconds(worker.child.pid!), 0);
    const cpuBefore = cpu();
    await submitRuns(store, RUNS, 'tput');
    const ended = await endedRuns(workers, RUNS, 600_000);
    const cpuMsPerStep = ((cpu() - cpuBefore) * 1000) / (RUNS * STEPS);
    const firstTaken = eventsOf(workers, 'run.taken')[0]!.at;
    const [from, to] = [Math.floor(RUNS * 0.1), Math.floor(RUNS * 0.9)];
    return { steady: ((to - from) * STEPS * 1000) / (ended[to]!.at - ended[from]!.at), whole: (RUNS * STEPS * 1000) / (ended.at(-1)!.at - firstTaken), cpuMsPerStep };
  });
}

/** The peak of the summed RSS of two workers holding MEMORY_RUNS runs between them, and the most runs held at once. */
async function memory(modelUrl: string): Promise<{ peakMb: number; heldAtOnce: number; idleMb: number }> {
  return withFleet('mem', 2, MEMORY_RUNS / 2, '30s', modelUrl, async (store, workers) => {
    const pids = () => workers.map((worker) => worker.child.pid!);
    const idle = sampleRss(pids, 50);
    await new Promise((done) => setTimeout(done, 300));
    const idleMb = idle.stop();
    const sampler = sampleRss(pids);
    await submitRuns(store, MEMORY_RUNS, 'mem');
    await endedRuns(workers, MEMORY_RUNS, 900_000);
    const peakMb = sampler.stop();
    const changes = workers.flatMap((worker) => worker.events.filter((e) => e.type === 'run.taken' || e.type === 'run.ended')).sort((a, b) => a.at - b.at);
    let held = 0;
    let heldAtOnce = 0;
    for (const change of changes) heldAtOnce = Math.max(heldAtOnce, (held += change.type === 'run.taken' ? 1 : -1));
    return { peakMb, heldAtOnce, idleMb };
  });
}

/**
 * SIGKILL the worker running a run once it is a few steps in; the time from the kill to the first record
 * the other worker appends to that run (the record's own time, written by the database's clock).
 */
async function takeover(modelUrl: string): Promise<{ ms: number; byPoll: number }[]> {
  return withFleet('takeover', 2, 4, `${LEASE_MS}ms`, modelUrl, async (store, workers, schema) => {
    const results: { ms: number; byPoll: number }[] = [];
    for (let rep = 0; rep < reps; rep++) {
      const [runId] = await submitRuns(store, 1, `takeover ${rep}`);
      let holder: WorkerProcess | undefined;
      for (const until = Date.now() + 60_000; Date.now() < until; await new Promise((done) => setTimeout(done, 20))) {
        holder ??= workers.find((worker) => worker.events.some((e) => e.type === 'run.taken' && e.runId === runId));
        if (holder && (await store.summary(runId!)).lastSeq >= 12) break;
      }
      if (!holder) throw new Error(`no worker took run ${runId} within 60 s`);
      holder.child.kill('SIGKILL');
      const killedAt = Date.now();
      await holder.exited;
      // Whatever the dead worker committed is in by now; every later record is another worker's.
      const lastOfDead = (await store.summary(runId!)).lastSeq;
      let seenAt = 0;
      for (const until = killedAt + 10 * LEASE_MS + 30_000; !seenAt; await new Promise((done) => setTimeout(done, 10))) {
        if ((await store.summary(runId!)).lastSeq > lastOfDead) seenAt = Date.now();
        else if (Date.now() > until) throw new Error(`run ${runId} in ${schema} did not continue within ${until - killedAt} ms of its worker's death`);
      }
      const [next] = await store.read(runId!, { from: lastOfDead + 1, to: lastOfDead + 1 });
      results.push({ ms: Date.parse(next!.time) - killedAt, byPoll: seenAt - killedAt });
      workers.splice(workers.indexOf(holder), 1);
      workers.push(await startWorkerProcess(storeUrl(schema), modelUrl, 4, `${LEASE_MS}ms`));
      for (const until = Date.now() + 60_000; (await store.summary(runId!)).status !== 'done'; await new Promise((done) => setTimeout(done, 100))) {
        if (Date.now() > until) throw new Error(`run ${runId} in ${schema} did not end within 60 s of being taken over`);
      }
    }
    return results;
  });
}

const verdict = (ok: boolean) => (ok ? 'within' : 'OVER');

const SECTIONS = (process.env.BENCH_WORKER_PARTS ?? 'throughput,ceiling,memory,takeover').split(',');

/** Steps/s through one and two workers, interleaved, for each model delay; rows of the table. */
async function scalingRows(delay: { ms: number }, modelUrl: string): Promise<string[]> {
  const rows: string[] = [];
  for (const ms of [200, 0]) {
    delay.ms = ms;
    const f = { 1: [] as { steady: number; whole: number; cpuMsPerStep: number; load: number }[], 2: [] as { steady: number; whole: number; cpuMsPerStep: number; load: number }[] };
    for (let rep = 0; rep < reps; rep++) {
      for (const count of rep % 2 ? ([2, 1] as const) : ([1, 2] as const)) {
        const figure = { ...(await throughput(count, modelUrl)), load: load() };
        f[count].push(figure);
        process.stderr.write(`workers: model ${ms} ms, ${count} worker(s), rep ${rep + 1}: ${figure.steady.toFixed(0)} steps/s (whole span ${figure.whole.toFixed(0)}), workers' CPU ${figure.cpuMsPerStep.toFixed(1)} ms/step, load ${figure.load.toFixed(1)}\n`);
      }
    }
    const each = (count: 1 | 2) => f[count].map((x) => x.steady.toFixed(0)).join(', ');
    for (const count of [1, 2] as const) {
      rows.push(`| steps/s, model ${ms} ms, ${count} worker${count > 1 ? 's' : ''} (each pass: ${each(count)}; whole span ${median(f[count].map((x) => x.whole)).toFixed(0)}; workers' CPU ${median(f[count].map((x) => x.cpuMsPerStep)).toFixed(1)} ms/step) | ${median(f[count].map((x) => x.steady)).toFixed(0)} | - | |`);
    }
    const ratio = median(f[2].map((x) => x.steady)) / median(f[1].map((x) => x.steady));
    rows.push(`| scaling 1 → 2 workers, model ${ms} ms | ${ratio.toFixed(2)}× | ${ms ? `≥ ${TARGETS.scaling}× while PostgreSQL is not the limit` : 'reported (where scaling stops)'} | ${ms ? verdict(ratio >= TARGETS.scaling) : ''} |`);
  }
  return rows;
}

async function ceilingRows(delay: { ms: number }): Promise<string[]> {
  delay.ms = 0;
  const ceilings = [];
  for (let rep = 0; rep < reps; rep++) {
    const schema = freshSchema('ceiling');
    try {
      ceilings.push(await pgAppendCeiling(schema));
    } finally {
      await dropSchema(schema);
    }
    process.stderr.write(`workers: PostgreSQL append ceiling rep ${rep + 1}: ${ceilings.at(-1)!.appendsPerSecond.toFixed(0)} appends/s, load ${load().toFixed(1)}\n`);
  }
  const c = ceilings[0]!;
  return [
    `| PostgreSQL's own append ceiling, appends/s (records/s): a recorded run's records appended under ${c.runs} new run ids, ${c.appendsPerStep} appends a step, ${c.inFlight} in flight over ${c.connections} connections, one process (each pass: ${ceilings.map((x) => x.appendsPerSecond.toFixed(0)).join(', ')}) | ${median(ceilings.map((x) => x.appendsPerSecond)).toFixed(0)} (${median(ceilings.map((x) => x.recordsPerSecond)).toFixed(0)}) | reported | |`,
    `| steps/s those appends would carry | ${median(ceilings.map((x) => x.stepsPerSecond)).toFixed(0)} | reported | |`,
  ];
}

async function memoryRows(delay: { ms: number }, modelUrl: string): Promise<string[]> {
  delay.ms = 200;
  const memories = [];
  for (let rep = 0; rep < reps; rep++) {
    memories.push(await memory(modelUrl));
    process.stderr.write(`workers: ${MEMORY_RUNS} runs, peak RSS of the workers ${memories.at(-1)!.peakMb.toFixed(0)} MB, ${memories.at(-1)!.heldAtOnce} held at once, load ${load().toFixed(1)}\n`);
  }
  const peak = median(memories.map((m) => m.peakMb));
  const held = median(memories.map((m) => m.heldAtOnce));
  return [`| ${MEMORY_RUNS} runs at once on 2 workers (model 200 ms): peak of the workers' summed RSS, MB (each pass: ${memories.map((m) => m.peakMb.toFixed(0)).join(', ')}; idle ${median(memories.map((m) => m.idleMb)).toFixed(0)}; most runs held at once ${held}) | ${peak.toFixed(0)} | ≤ ${TARGETS.memoryMb} | ${verdict(peak <= TARGETS.memoryMb && held >= MEMORY_RUNS * 0.9)} |`];
}

async function takeoverRows(delay: { ms: number }, modelUrl: string): Promise<string[]> {
  delay.ms = 200;
  const takeovers = await takeover(modelUrl);
  process.stderr.write(`workers: takeover ${takeovers.map((t) => `${t.ms} ms (seen ${t.byPoll})`).join(', ')}, load ${load().toFixed(1)}\n`);
  const take = median(takeovers.map((t) => t.ms));
  return [`| worker killed (SIGKILL) → its run's next record, appended by another worker, ms (each: ${takeovers.map((t) => t.ms).join(', ')}) | ${take.toFixed(0)} | ≤ lease ${LEASE_MS} + 1000 | ${verdict(take <= LEASE_MS + TARGETS.takeoverOverLeaseMs)} |`];
}

/** The workers table, figures beside their targets (BENCH_WORKER_PARTS chooses among throughput, ceiling, memory, takeover). */
export async function workersBench(): Promise<string> {
  buildIfStale();
  const { server, delay } = await startModel();
  const loadBefore = load();
  const rows = ['| figure | measured | target | |', '|---|---|---|---|'];
  try {
    if (SECTIONS.includes('throughput')) rows.push(...(await scalingRows(delay, server.url)));
    if (SECTIONS.includes('ceiling')) rows.push(...(await ceilingRows(delay)));
    if (SECTIONS.includes('memory')) rows.push(...(await memoryRows(delay, server.url)));
    if (SECTIONS.includes('takeover')) rows.push(...(await takeoverRows(delay, server.url)));
  } finally {
    await server.close();
  }
  const intro =
    `Median of ${reps} passes, each in a fresh schema; workers are \`node bin/statecraft.js worker\` processes (concurrency ${CONCURRENCY} each for throughput), ` +
    `${RUNS} runs of ${STEPS} steps a pass (9 tool calls, then an answer), the scripted model in the bench's process. Node ${process.version}; load average ${loadBefore.toFixed(1)} at the start, ${load().toFixed(1)} at the end, on ${cpus().length} cores.`;
  return [intro, '', ...rows].join('\n');
}
