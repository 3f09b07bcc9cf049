// Reads of the run log, on SQLite (default) or PostgreSQL (BENCH_STORE=postgres):
// stateAt at random records of a long run, the history listing of a 1000-step run, and resuming a
// 1000-step run up to its next step in fresh processes (median of 7). Prints one JSON line.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { importRun, openStore, runAgent, startRun, stateAt } from '../src/index.ts';
import { exportRunText } from '../src/log/exchange/jsonl.ts';
import { agent } from './logBenchAgent.ts';
import type { RunStore } from '../src/index.ts';
import { scriptedModel, type Script } from '../src/testing/index.ts';

const longSteps = Number(process.env.BENCH_LONG_STEPS ?? 10_000);
/** Fresh processes resuming the 1000-step run, each its own copy; the median is reported. */
const RESUMES = Number(process.env.BENCH_RESUMES ?? 7);
const kind = process.env.BENCH_STORE ?? 'sqlite';
const dir = mkdtempSync(join(tmpdir(), 'statecraft-logbench-'));
const schema = `logbench_${process.pid}`;
const url = kind === 'postgres' ? `postgres://postgres@127.0.0.1:5432/test?schema=${schema}` : `sqlite:${join(dir, 'runs.db')}`;


const loop = (steps: number, last: 'answer' | 'approval'): Script => (i) =>
  i < steps - 1
    ? { toolCalls: [{ id: `call_${i}`, name: 'add', arguments: { a: i, b: 1 } }], usage: { inputTokens: 100, outputTokens: 10 } }
    : i === steps - 1
      ? last === 'answer'
        ? { content: 'finished' }
        : { toolCalls: [{ id: 'publish_1', name: 'publish', arguments: { text: 'done' } }] }
      : { content: 'finished' };

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const time = async (fn: () => Promise<unknown>) => {
  const started = performance.now();
  await fn();
  return performance.now() - started;
};

let store: RunStore = openStore(url);
try {
  const built = performance.now();
  const long = await runAgent(agent, 'go', { model: scriptedModel(loop(longSteps, 'answer')), store });
  const buildMs = performance.now() - built;
  const { lastSeq } = await store.summary(long.runId);
  const seqs = Array.from({ length: 200 }, (_, i) => Math.floor(((i * 7919) % 200) / 200 * lastSeq));
  const stateAtMs: number[] = [];
  for (const seq of seqs) stateAtMs.push(await time(() => stateAt(store, long.runId, seq)));
  // Scrubbing, as the inspector's timeline does: 100 records forward from a point not read yet, then back.
  const from = Math.floor(lastSeq * 0.71);
  const scrub = [...Array.from({ length: 100 }, (_, i) => from + i), ...Array.from({ length: 100 }, (_, i) => from + 99 - i)];
  const scrubMs: number[] = [];
  for (const seq of scrub) scrubMs.push(await time(() => stateAt(store, long.runId, seq)));
  // A first read in a process that has read nothing of the run: a new store object keeps no states.
  const fresh = openStore(url);
  const firstReadMs = await time(() => stateAt(fresh, long.runId, Math.floor(lastSeq / 2)));
  await fresh.close();

  const waiting = startRun(agent, { input: 'go', model: scriptedModel(loop(1000, 'approval')), store });
  await new Promise<void>((done) => waiting.on((event) => event.type === 'approval.requested' && done()));
  await waiting.detach();
  const historyMs: number[] = [];
  for (let i = 0; i < 20; i++) historyMs.push(await time(() => store.readHistory(waiting.runId)));
  // Resuming changes a run, so each fresh process resumes its own copy of the waiting run.
  const exported = await exportRunText(store, waiting.runId);
  await store.close();
  const fileBytes = kind === 'sqlite' ? statSync(join(dir, 'runs.db')).size : undefined;
  store = openStore(url);
  const copies: string[] = [];
  for (let i = 0; i < RESUMES; i++) copies.push((await importRun(store, exported, { newRunId: `${waiting.runId}-copy-${i}` })).runId);
  await store.close();

  const resumeMs: number[] = [];
  let importMs = 0;
  for (const copy of copies) {
    const once = JSON.parse(
      execFileSync(process.execPath, ['--import', 'tsx', resolve(import.meta.dirname, 'resumeOnce.ts'), url, copy], { encoding: 'utf8' }).trim().split('\n').at(-1)!,
    ) as { importMs: number; resumeMs: number };
    resumeMs.push(once.resumeMs);
    importMs = once.importMs;
  }
  console.log(
    JSON.stringify({
      store: kind,
      longSteps,
      longRecords: lastSeq + 1,
      buildMsPerStep: buildMs / longSteps,
      stateAtMedianMs: median(stateAtMs),
      stateAtMaxMs: Math.max(...stateAtMs),
      scrubMedianMs: median(scrubMs),
      scrubMaxMs: Math.max(...scrubMs),
      firstReadMs,
      historyRecords: (await openStore(url).readHistory(waiting.runId)).length,
      historyMedianMs: median(historyMs),
      importMs,
      resumeMedianMs: median(resumeMs),
      resumeMs,
      ...(fileBytes === undefined ? {} : { fileBytes }),
    }),
  );
} finally {
  if (kind === 'postgres') {
    const pg = (await import('pg')).default;
    const client = new pg.Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/test' });
    await client.connect();
    await client.query(`drop schema if exists ${schema} cascade`);
    await client.end();
  }
  rmSync(dir, { recursive: true, force: true });
}
