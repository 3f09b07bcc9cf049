import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decideQueued, PostgresStore, replayRun, type QueuedDecision } from '../src/index.ts';
import { stateAt } from '../src/log/reads/reads.ts';
import { verifyRun } from '../src/log/reads/verifyRun.ts';
import { startScriptedServer } from '../src/testing/index.ts';
import { submitRun } from '../src/worker/submitRun.ts';
import { dropSchema, freshSchema, storeUrl, summariesWhen } from './fixtures/workers/helpers.ts';

// Three `statecraft worker` processes run 200 queued runs, each with rounds of parallel tool calls
// (one call a round of a tool that may not run twice, which writes its idempotency key to a file); a
// quarter of them need a person's approval for that tool, given while the workers work, through the
// workers' queue as `statecraft approve` gives it. Workers are killed with SIGKILL mid-step again and
// again (and started again), and one is frozen with SIGSTOP past its lease, then let go on. Every run
// must end as it would have without all that.

const root = resolve(import.meta.dirname, '..');
const dir = mkdtempSync(join(tmpdir(), 'statecraft-chaos-'));
const effectsFile = join(dir, 'effects.txt');
const schema = freshSchema('sc_chaos');
const url = storeUrl(schema);
const RUNS = 200;
/** Every APPROVING-th run is of the agent whose tool that may not run twice needs approval. */
const APPROVING = 4;
const LEASE_MS = 1_500;
/** SIGKILL a worker from these model requests on (of about 800), once it has runs mid-step. */
const KILL_AT = new Set([30, 120, 220, 330, 450, 580]);
/** SIGSTOP the worker in slot 2 from this request on, once it has runs mid-step, for three leases. */
const FREEZE_AT = 160;

const workers: { slot: number; child: ChildProcess; out: string; exited: Promise<number | null> }[] = [];
const frozenSlot = 2;
let frozen: (typeof workers)[number] | undefined;
let killed = 0;

function startWorkerProcess(slot: number): void {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/cli/main.ts', 'worker', '--agents', 'test/fixtures/workers/agent.ts,test/fixtures/workers/approving.ts', '--store', url, '--concurrency', '10', '--lease', `${LEASE_MS}ms`, '--poll', '100ms', '--grace', '5s', '--json'],
    { cwd: root, env: { ...process.env, MODEL_URL: server.url, EFFECTS_FILE: effectsFile, TOOL_MS: '40', NO_COLOR: '1', STATECRAFT_DEBUG: '1' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const entry = { slot, child, out: '', exited: new Promise<number | null>((done) => child.on('exit', (code) => done(code))) };
  child.stdout!.on('data', (chunk) => (entry.out += chunk));
  child.stderr!.on('data', (chunk) => (entry.out += chunk));
  workers.push(entry);
}

const live = (slot: number) => workers.filter((worker) => worker.slot === slot && worker.child.exitCode === null && worker.child.signalCode === null).at(-1);

/** Runs a worker process holds now, by the events it printed: taken and not yet settled there. */
function inFlight(worker: (typeof workers)[number]): number {
  let held = 0;
  for (const event of events(worker)) {
    if (event.type === 'run.taken') held++;
    else if (['run.ended', 'run.released', 'lease.lost', 'run.error'].includes(event.type)) held--;
  }
  return held;
}

/** Kills and the freeze fall due at these request numbers, and happen at the first request after that when their worker has runs in flight (it is mid-step). */
const kills = [...KILL_AT].sort((a, b) => a - b);

function chaos(index: number): void {
  if (kills.length > 0 && index >= kills[0]!) {
    // Slots 0 and 1 take turns; the frozen slot is left to come back and find its runs gone.
    const victim = live(killed % 2);
    if (victim && inFlight(victim) > 0) {
      kills.shift();
      killed++;
      victim.child.kill('SIGKILL');
      startWorkerProcess(victim.slot);
    }
  }
  if (index >= FREEZE_AT && !frozen) {
    const worker = live(frozenSlot);
    if (worker && inFlight(worker) > 0) {
      frozen = worker;
      frozen.child.kill('SIGSTOP');
      setTimeout(() => frozen?.child.kill('SIGCONT'), 3 * LEASE_MS);
    }
  }
}

const server = await startScriptedServer((index, request) => {
  chaos(index);
  return reply(request, 150);
});
process.env.MODEL_URL = server.url;
process.env.EFFECTS_FILE = effectsFile;
const { agent, approvingAgent, reply, answerFor } = await import('./fixtures/workers/agent.ts');
const store = new PostgresStore({ connectionString: url.split('?')[0], schema });

function events(worker: (typeof workers)[number]): { type: string; runId?: string; detail?: string }[] {
  return worker.out
    .split('\n')
    .filter((line) => line.startsWith('{') && line.endsWith('}'))
    .map((line) => JSON.parse(line) as { type: string; runId?: string; detail?: string });
}

test('runs survive workers killed mid-step and a worker frozen past its lease: same answers, no divergence, no record lost, no tool that may not run twice run twice', async () => {
  const tasks = Array.from({ length: RUNS }, (_, i) => `task ${i}`);
  const agentOf = (i: number) => (i % APPROVING === 0 ? approvingAgent : agent);
  const runIds: string[] = [];
  for (const [i, task] of tasks.entries()) runIds.push((await submitRun(agentOf(i), task, { store })).runId);
  for (let slot = 0; slot < 3; slot++) startWorkerProcess(slot);

  // The human's part, while the workers work and die: decisions queued for the workers, as
  // `statecraft approve` and `reject` queue them. A call the run asks about because its worker died
  // after it started is rejected when it had run (its key is in the effects file) and approved when
  // it had not; a call that needs approval is approved. Each call of each step is decided once.
  const effects = () => (existsSync(effectsFile) ? readFileSync(effectsFile, 'utf8').trim().split('\n').filter(Boolean) : []);
  const decidedCalls = new Set<string>();
  let decided = 0;
  let deciding = true;
  const human = (async () => {
    while (deciding) {
      for (const runId of runIds) {
        const summary = await store.summary(runId);
        if (summary.status !== 'waiting') continue;
        const { step } = ((await stateAt(store, runId, summary.lastSeq)) as { context: { step: number } }).context;
        // A wait is its calls as of the run's last record: a call asked about again later is decided again.
        const fresh = (summary.waitingOn as { callId: string }[]).filter(({ callId }) => !decidedCalls.has(`${runId}:${summary.lastSeq}:${callId}`));
        if (fresh.length === 0) continue;
        const ran = effects();
        const decisions = fresh.map(({ callId }): QueuedDecision =>
          ran.includes(`${runId}:step${step}:${callId}`)
            ? { kind: 'reject', callId, by: 'test', reason: 'It ran before its worker stopped: done.' }
            : { kind: 'approve', callId, by: 'test' },
        );
        await decideQueued(store, runId, decisions);
        for (const { callId } of fresh) decidedCalls.add(`${runId}:${summary.lastSeq}:${callId}`);
        decided += decisions.length;
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  })();
  try {
    await summariesWhen(store, runIds, (summary) => summary.status === 'done', 240_000);
  } catch (error) {
    // What the workers and the queue say of the runs that never ended, for whoever reads the failure.
    const stuck = [];
    for (const runId of runIds) {
      const summary = await store.summary(runId);
      if (summary.status === 'done') continue;
      const said = workers.flatMap(events).filter((event) => event.runId === runId).map((event) => JSON.stringify(event));
      const rows = await store.executor().executeSql(`SELECT (SELECT row_to_json(l) FROM "${schema}".run_leases l WHERE run_id = $1) AS lease, (SELECT json_agg(d) FROM "${schema}".run_decisions d WHERE run_id = $1) AS decisions`, [runId]);
      const tail = (await store.readHistory(runId, { from: Math.max(0, summary.lastSeq - 5) })).map((entry) => `${entry.seq} ${entry.eventType} ${JSON.stringify(entry.event).slice(0, 160)}`);
      stuck.push(`${runId} ${summary.status} ${JSON.stringify(summary.waitingOn)}\n  ${JSON.stringify(rows.rows[0])}\n  ${tail.join('\n  ')}\n  ${said.slice(-8).join('\n  ')}`);
    }
    throw new Error(`${(error as Error).message}\n${stuck.slice(0, 4).join('\n')}`);
  } finally {
    deciding = false;
    await human;
  }
  assert.ok(killed >= KILL_AT.size, `the workers were killed ${killed} times`);
  assert.ok(frozen, `a worker was frozen: ${workers.map((w) => `[${w.slot} ${w.child.exitCode} ${w.child.signalCode}] ${w.out.slice(-400)}`).join('\n')}`);
  assert.ok(decided >= RUNS / APPROVING * 2, `every call that needed approval was decided (${decided} decisions)`);

  // Drained with SIGTERM: each worker exits 0 and leaves no lease held.
  for (const worker of workers) if (worker.child.exitCode === null && worker.child.signalCode === null) worker.child.kill('SIGTERM');
  const stuck = new Promise<never>((_, reject) =>
    setTimeout(() => reject(new Error(`workers still running 30 s after SIGTERM: ${workers.filter((w) => w.child.exitCode === null && w.child.signalCode === null).map((w) => `[slot ${w.slot}] ${w.out.slice(-3000)}`).join('\n')}`)), 30_000).unref(),
  );
  const codes = await Promise.race([Promise.all(workers.map((worker) => worker.exited)), stuck]);
  const drained = workers.filter((worker, i) => codes[i] !== null);
  assert.ok(drained.every((worker, i) => codes[workers.indexOf(worker)] === 0), `drained workers exit 0: ${drained.filter((w) => codes[workers.indexOf(w)] !== 0).map((w) => w.out.slice(0, 3000)).join('\n')}`);
  const held = await store.executor().executeSql(`SELECT count(*)::int AS n FROM "${schema}".run_leases WHERE owner IS NOT NULL`);
  assert.is(held.rows[0].n, 0, 'no lease left held');

  const lines = effects();
  assert.is(new Set(lines).size, lines.length, `no call of the tool that may not run twice ran twice: ${lines.filter((line, i) => lines.indexOf(line) !== i).join(', ')}`);
  for (const [i, runId] of runIds.entries()) {
    const summary = await store.summary(runId);
    assert.is(summary.status, 'done', `run ${runId}`);
    const records = await store.read(runId);
    assert.equal(records.map((record) => record.seq), records.map((_, seq) => seq), `run ${runId}: records numbered without a gap`);
    const output = (records.at(-1)!.snapshot as { output?: { output?: unknown } }).output?.output;
    assert.is(output, answerFor(tasks[i]!), `run ${runId} answers as a run that never stopped`);
    assert.is(lines.filter((line) => line.startsWith(`${runId}:`)).length, 2, `run ${runId}: each call of the tool that may not run twice ran exactly once`);
    const verified = await verifyRun(store, runId);
    assert.equal(verified.problems, [], `run ${runId} verifies`);
    const replay = await replayRun(agentOf(i), runId, { store });
    assert.ok(replay.ok, `run ${runId} replays without divergence: ${JSON.stringify(replay.divergence)}`);
  }

  // The frozen worker woke to find its runs continued elsewhere: it stopped them, and the store refused what it tried to write.
  const woke = events(frozen!);
  const lost = woke.filter((event) => event.type === 'lease.lost');
  assert.ok(lost.length > 0, `the frozen worker reported lost leases: ${frozen!.out.slice(-1000)}`);
  const refused = workers.flatMap(events).filter((event) => event.type === 'append.refused');
  assert.ok(refused.length > 0, 'appends under lost leases were refused by the store');
  assert.ok(refused.every((event) => /is no longer the run's/.test(event.detail ?? '')));
  // A run whose lease was lost continued under another worker's lease and ended done (checked above for all).
  assert.ok(lost.every((event) => runIds.includes(event.runId!)));
  process.stdout.write(`  chaos: ${RUNS} runs, ${killed} kills, ${lost.length} leases lost by the frozen worker, ${refused.length} appends refused, ${decided} decisions\n`);
});

test.after(async () => {
  for (const worker of workers) if (worker.child.exitCode === null && worker.child.signalCode === null) worker.child.kill('SIGKILL');
  await store.close();
  await server.close();
  await dropSchema(schema);
  rmSync(dir, { recursive: true, force: true });
});

test.run();
