import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createOpenAIModel, openStore, resumeRun } from '../src/index.ts';
import type { RunStore } from '../src/index.ts';
import { startScriptedServer, type ScriptReply, type ScriptRequest } from '../src/testing/index.ts';
import { agent } from './fixtures/crash/agent.ts';

// A tool that may not run twice finishes, and the model is asked again with its result: the process
// is killed the moment that request reaches the model, or a few milliseconds later. Whatever the
// instant, the tool's finish must already be on record, so that resume goes on without anyone.

const root = resolve(import.meta.dirname, '..');
const dir = mkdtempSync(join(tmpdir(), 'statecraft-crash-after-tool-'));
const PG_URL = process.env.STATECRAFT_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const ITERATIONS = 24;

/** The model calls the unsafe tool once, then answers; which step it is follows from the conversation. */
const conversation = (onSecondRequest?: () => void) => (_index: number, request: ScriptRequest): ScriptReply => {
  const answered = request.messages.filter((m) => m.role === 'assistant').length;
  if (answered === 0) return { toolCalls: [{ id: 'c1', name: 'once', arguments: { text: 'a' } }] };
  onSecondRequest?.();
  return { content: 'finished', ...(onSecondRequest ? { delayMs: 60_000 } : {}) };
};

/** The nth way of timing the kill after the request arrives: at once, on the next turn, or 0 to 5 ms later. */
const killLater = (iteration: number, kill: () => void) => {
  const variant = iteration % 8;
  if (variant === 0) kill();
  else if (variant === 1) setImmediate(kill);
  else setTimeout(kill, variant - 2);
};

const schemas: string[] = [];
/**
 * Half the iterations record to PostgreSQL, whose writes take a round trip, the rest to a SQLite file;
 * each way of timing the kill meets both.
 */
const storeUrl = (iteration: number) => {
  if ((iteration + Math.floor(iteration / 8)) % 2 === 0) return `sqlite:${join(dir, `run-${iteration}.db`)}`;
  const schema = `sc_crash_${randomBytes(5).toString('hex')}`;
  schemas.push(schema);
  return `${PG_URL}?schema=${schema}`;
};

async function killedRun(iteration: number): Promise<{ url: string; runId: string; traceFile: string; stderr: string }> {
  const url = storeUrl(iteration);
  const runId = `after-tool-${iteration}`;
  const traceFile = join(dir, `trace-${iteration}.txt`);
  let child: ReturnType<typeof spawn> | undefined;
  const server = await startScriptedServer(conversation(() => killLater(iteration, () => child?.kill('SIGKILL'))));
  child = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/crash/child.ts'], {
    cwd: root,
    env: { ...process.env, STORE_URL: url, TRACE_FILE: traceFile, RUN_ID: runId, MODEL_URL: server.url, HANG_TOOL: '', KILL_AFTER_STATES: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  // A child that never sends the second request is stopped, and the assertion below says so.
  const stuck = setTimeout(() => {
    stderr += '\n(the second model request never came within 60 s)';
    child?.kill('SIGTERM');
  }, 60_000);
  const signal = await new Promise<string | null>((done) => child!.on('exit', (_code, how) => done(how)));
  clearTimeout(stuck);
  await server.close();
  assert.is(signal, 'SIGKILL', `iteration ${iteration}: the child was killed (stderr: ${stderr.slice(0, 500)})`);
  return { url, runId, traceFile, stderr };
}

const lines = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n') : []);

/** Runs `work` for 0..count-1, at most `width` at a time, and returns the results in order. */
async function inPool<T>(count: number, width: number, work: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = [];
  let next = 0;
  const lane = async () => {
    for (let i = next++; i < count; i = next++) results[i] = await work(i);
  };
  await Promise.all(Array.from({ length: width }, lane));
  return results;
}

test('killed at any instant after the next model request leaves: every run resumes to done and the unsafe tool ran once', async () => {
  // The kills run side by side (each in its own process); the resumes one at a time, since the tools
  // of this process trace to the file TRACE_FILE names.
  const runs = await inPool(ITERATIONS, 3, killedRun);
  const outcomes: string[] = [];
  for (const [i, killed] of runs.entries()) {
    const store: RunStore = openStore(killed.url);
    const server = await startScriptedServer(conversation());
    try {
      process.env.TRACE_FILE = killed.traceFile;
      const run = await resumeRun(agent, killed.runId, { store, model: createOpenAIModel({ baseURL: server.url, apiKey: 'test', model: 'scripted' }) });
      const result = await run.result;
      outcomes.push(`${i}:${result.status}${result.error ? ` (${result.error.message.slice(0, 90)})` : ''}`);
      const starts = lines(killed.traceFile).filter((line) => line.startsWith('start once '));
      assert.is(starts.length, 1, `iteration ${i}: the unsafe tool ran once in all (trace: ${lines(killed.traceFile).join(' | ')})`);
    } finally {
      delete process.env.TRACE_FILE;
      await server.close();
      await store.close();
    }
  }
  const failed = outcomes.filter((outcome) => !/^\d+:done$/.test(outcome));
  assert.equal(failed, [], `every resumed run ends done without a decision; ${failed.length} of ${ITERATIONS} did not`);
});

test.after(async () => {
  rmSync(dir, { recursive: true, force: true });
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  for (const schema of schemas) await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await admin.end();
});
test.run();
