// PostgreSQL's own append ceiling, for the workers bench to print beside its throughput: the records
// of one recorded 10-step run of the bench's agent, appended straight to a PostgresStore (no runtime,
// no queue, no lease) under many new run ids from one process, as the runtime batches them (two
// appends a step), with BENCH_PG_IN_FLIGHT appends in flight over BENCH_PG_CONNECTIONS connections.
import { randomUUID } from 'node:crypto';
import { PostgresStore, runAgent, type RunRecord, type RunSummary } from '../src/index.ts';
import { sealRecord } from '../src/log/format/record.ts';
import { benchAgent, PG_URL, STEPS } from './workersFleet.ts';

export interface AppendCeiling {
  appendsPerSecond: number;
  recordsPerSecond: number;
  /** The step rate those appends would carry: appends/s ÷ appends per step. */
  stepsPerSecond: number;
  appendsPerStep: number;
  connections: number;
  inFlight: number;
  runs: number;
}

/** Appends the records of one recorded run (its model: the scripted server, started first) under `runs` new ids. */
export async function pgAppendCeiling(schema: string): Promise<AppendCeiling> {
  const connections = Number(process.env.BENCH_PG_CONNECTIONS ?? 8);
  const inFlight = Number(process.env.BENCH_PG_IN_FLIGHT ?? 32);
  const runs = Number(process.env.BENCH_PG_RUNS ?? 300);
  const store = new PostgresStore({ connectionString: PG_URL, schema, pool: { max: connections } });
  try {
    const recorded = await runAgent(await benchAgent(), 'ceiling', { store });
    if (recorded.status !== 'done' || recorded.steps !== STEPS) throw new Error(`the recorded run ended ${recorded.status} after ${recorded.steps} steps: ${JSON.stringify(recorded.error ?? recorded.output)}`);
    const header = await store.header(recorded.runId);
    const summary = await store.summary(recorded.runId);
    const records = await store.read(recorded.runId);
    // Two appends a step, as the runtime writes (the model's answer with the tool's start, then the tool's end).
    const appendsPerStep = 2;
    const batchCount = STEPS * appendsPerStep;
    const size = Math.ceil(records.length / batchCount);
    const copies = Array.from({ length: runs }, () => randomUUID());
    const facts = (seq: number): Partial<RunSummary> => ({ status: 'running', steps: summary.steps, inputTokens: summary.inputTokens, outputTokens: summary.outputTokens, lastSeq: seq });
    for (const runId of copies) await store.createRun({ ...header, runId }, { ...summary, runId, status: 'queued', lastSeq: -1 });
    const batches = copies.map((runId) => {
      const own: RunRecord[] = records.map(({ checksum: _old, ...record }) => sealRecord({ ...record, runId }));
      return Array.from({ length: Math.ceil(own.length / size) }, (_, i) => own.slice(i * size, (i + 1) * size));
    });
    let appends = 0;
    let written = 0;
    const started = performance.now();
    // Each lane writes one run's batches in order (an append names the seq it expects), then the next run's.
    let next = 0;
    const lane = async () => {
      for (let run = next++; run < runs; run = next++) {
        for (const batch of batches[run]!) {
          await store.append(copies[run]!, batch, { expectedSeq: batch[0]!.seq, summary: facts(batch.at(-1)!.seq) });
          appends++;
          written += batch.length;
        }
      }
    };
    await Promise.all(Array.from({ length: inFlight }, lane));
    const seconds = (performance.now() - started) / 1000;
    return { appendsPerSecond: appends / seconds, recordsPerSecond: written / seconds, stepsPerSecond: appends / seconds / appendsPerStep, appendsPerStep, connections, inFlight, runs };
  } finally {
    await store.close();
  }
}
