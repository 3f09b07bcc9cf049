import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createOpenAIModel, resumeRun, runAgent, SqliteStore } from '../src/index.ts';
import type { Message, RunResult } from '../src/index.ts';
import { startScriptedServer, type ScriptReply, type ScriptRequest } from '../src/testing/index.ts';
import { agent } from './fixtures/crash/agent.ts';

const root = resolve(import.meta.dirname, '..');
const dir = mkdtempSync(join(tmpdir(), 'statecraft-crash-'));
let n = 0;

/** The conversation picks the step, so a model asked again after a crash answers the same way. */
const conversation = (first: ScriptReply['toolCalls'], options: { hangOnFinal?: boolean } = {}) => {
  const steps: ScriptReply[] = [
    { toolCalls: first },
    { toolCalls: [{ id: 'c3', name: 'idem', arguments: { text: 'c' } }] },
    { content: 'finished', ...(options.hangOnFinal ? { delayMs: 60_000 } : {}) },
  ];
  return (_index: number, request: ScriptRequest) => steps[request.messages.filter((m) => m.role === 'assistant').length];
};
const defaultFirst = [
  { id: 'c1', name: 'once', arguments: { text: 'a' } },
  { id: 'c2', name: 'idem', arguments: { text: 'b' } },
];

interface Crash {
  store: SqliteStore;
  runId: string;
  trace: () => string[];
  traceFile: string;
  recordsBeforeResume: number;
}

/**
 * Run the agent in a child process and SIGKILL it when `killWhen` says so (or let it kill itself);
 * afterwards the tools of this process append to the same trace file, so a resume here is traced too.
 */
async function crash(options: { first?: ScriptReply['toolCalls']; hangTool?: string; hangOnFinal?: boolean; killAfterStates?: number; killWhen?: (trace: string[], requests: number, finished: (callId: string) => Promise<boolean>) => boolean | Promise<boolean> }): Promise<Crash> {
  const id = n++;
  const storePath = join(dir, `crash-${id}.db`);
  const traceFile = join(dir, `trace-${id}.txt`);
  const runId = `crash-run-${id}`;
  const trace = () => (existsSync(traceFile) ? readFileSync(traceFile, 'utf8').trim().split('\n') : []);
  const server = await startScriptedServer(conversation(options.first ?? defaultFirst, { hangOnFinal: options.hangOnFinal }));
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/crash/child.ts'], {
    cwd: root,
    env: {
      ...process.env,
      STORE_PATH: storePath,
      TRACE_FILE: traceFile,
      RUN_ID: runId,
      MODEL_URL: server.url,
      HANG_TOOL: options.hangTool ?? '',
      KILL_AFTER_STATES: String(options.killAfterStates ?? 0),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const exited = new Promise<string | null>((done) => child.on('exit', (_code, signal) => done(signal)));
  const deadline = Date.now() + 20_000;
  if (options.killWhen) {
    // Whether a call's finish is on record (not only done in the child): the kill must come after it.
    const finished = async (callId: string) => {
      if (!existsSync(storePath)) return false;
      const reader = new SqliteStore({ path: storePath });
      try {
        return (await reader.readHistory(runId).catch(() => [])).some((line) => line.eventType === 'TOOL_FINISHED' && line.event.callId === callId);
      } finally {
        await reader.close();
      }
    };
    while (!(await options.killWhen(trace(), server.requests.length, finished))) {
      if (Date.now() > deadline) throw new Error(`the crash point was never reached; child stderr: ${stderr}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    child.kill('SIGKILL');
  }
  const signal = await exited;
  await server.close();
  assert.is(signal, 'SIGKILL', `the child was killed (stderr: ${stderr.slice(0, 500)})`);
  const store = new SqliteStore({ path: storePath });
  const records = await store.read(runId);
  records.forEach((record, i) => assert.is(record.seq, i, 'what was written before the kill runs without a gap'));
  process.env.TRACE_FILE = traceFile;
  return { store, runId, trace, traceFile, recordsBeforeResume: records.length };
}

async function resume(c: Crash, act?: (run: Awaited<ReturnType<typeof resumeRun>>) => void): Promise<RunResult> {
  const server = await startScriptedServer(conversation(defaultFirst));
  try {
    const run = await resumeRun(agent, c.runId, { store: c.store, model: createOpenAIModel({ baseURL: server.url, apiKey: 'test', model: 'scripted' }) });
    act?.(run);
    return await run.result;
  } finally {
    await server.close();
  }
}

/** What a finished run's last state says, apart from times: its status, messages, step, tokens, cost, output and stop reason. */
const ending = (snapshot: unknown) => {
  const { status, value, context } = snapshot as { status: string; value: unknown; context: { messages: Message[]; step: number; usage: unknown; costUsd: number; output: unknown; stop: unknown } };
  const { messages, step, usage, costUsd, output, stop } = context;
  return { status, value, messages, step, usage, costUsd, output, stop };
};

let reference: { result: RunResult; messages: Message[]; ending: ReturnType<typeof ending> };
test.before(async () => {
  const server = await startScriptedServer(conversation(defaultFirst));
  const store = new SqliteStore({ path: join(dir, 'reference.db') });
  const model = createOpenAIModel({ baseURL: server.url, apiKey: 'test', model: 'scripted' });
  const result = await runAgent(agent, 'go', { model, store, runId: 'reference' });
  const last = (await store.read('reference')).at(-1)!;
  const { stateAt } = await import('../src/log/reads/reads.ts');
  const snapshot = (await stateAt(store, 'reference', last.seq)) as unknown as { context: { messages: Message[] } };
  reference = { result, messages: snapshot.context.messages, ending: ending(snapshot) };
  await server.close();
  await store.close();
});

const finalState = async (c: Crash) => {
  const { stateAt } = await import('../src/log/reads/reads.ts');
  const { lastSeq } = await c.store.summary(c.runId);
  return ending(await stateAt(c.store, c.runId, lastSeq));
};

const starts = (trace: string[], tool: string) => trace.filter((line) => line.startsWith(`start ${tool} `));

test('killed during a model call: resume asks the model again and ends as a run that never stopped', async () => {
  // Killed while the third model call hangs, once the turn before it is on record (an idempotent
  // tool whose finish was not yet written would rightly run again).
  const c = await crash({ hangOnFinal: true, killWhen: async (_trace, requests, finished) => requests === 3 && (await finished('c3')) });
  const result = await resume(c);
  assert.is(result.status, 'done');
  assert.is(result.output, reference.result.output);
  assert.equal(await finalState(c), reference.ending);
  assert.is(starts(c.trace(), 'once').length, 1);
  assert.is(starts(c.trace(), 'idem').length, 2, 'b and c, each once');
  const resumed = (await c.store.read(c.runId)).find((record) => record.event.type === 'statecraft.resumed');
  assert.equal(resumed?.event.repeats, { modelCallOfStep: 3 }, 'the resume records that the third model call is asked again');
  await c.store.close();
});

test('killed between steps: resume continues from the last durable record', async () => {
  const c = await crash({ killAfterStates: 7 });
  const result = await resume(c);
  assert.is(result.status, 'done');
  assert.equal(await finalState(c), reference.ending);
  assert.is(starts(c.trace(), 'once').length, 1, 'the unsafe tool ran once');
  assert.is(starts(c.trace(), 'idem').length, 2);
  await c.store.close();
});

test('killed inside a tool that is not safe to repeat: the run fails on resume and the tool never runs twice', async () => {
  const c = await crash({ hangTool: 'once', killWhen: async (trace, _requests, finished) => starts(trace, 'once').length === 1 && (await finished('c2')) });
  const result = await resume(c);
  assert.is(result.status, 'failed');
  assert.match(result.error?.message ?? '', /c1 \(once\).*never finished/);
  assert.match(result.error?.message ?? '', /onResume: 'fail'/);
  assert.is(starts(c.trace(), 'once').length, 1, 'not re-run');
  await c.store.close();
});

test('killed inside an idempotent tool: resume runs it again with the same idempotency key', async () => {
  const c = await crash({ hangTool: 'idem', killWhen: async (trace, _requests, finished) => starts(trace, 'idem').length === 1 && (await finished('c1')) });
  const result = await resume(c);
  assert.is(result.status, 'done', JSON.stringify(result.error));
  assert.equal(await finalState(c), reference.ending);
  const idemB = starts(c.trace(), 'idem').filter((line) => line.endsWith(' b'));
  assert.is(idemB.length, 2, 'started twice');
  assert.is(idemB[0]!.split(' ')[3], idemB[1]!.split(' ')[3], 'with the same idempotency key');
  assert.is(starts(c.trace(), 'once').length, 1);
  await c.store.close();
});

test('killed inside a tool that asks: resume waits for a human, and approval runs it again', async () => {
  const first = [{ id: 'c1', name: 'ask', arguments: { text: 'a' } }];
  const c = await crash({ first, hangTool: 'ask', killWhen: (trace) => starts(trace, 'ask').length === 1 });
  const server = await startScriptedServer(conversation(first));
  const run = await resumeRun(agent, c.runId, { store: c.store, model: createOpenAIModel({ baseURL: server.url, apiKey: 'test', model: 'scripted' }) });
  const waiting = await new Promise<string[]>((done) => run.on((event) => event.type === 'approval.requested' && done(event.calls.map((call) => call.id))));
  assert.equal(waiting, ['c1']);
  assert.match(run.pendingApprovals[0]!.note ?? '', /never finished/);
  assert.is(starts(c.trace(), 'ask').length, 1, 'nothing re-run before the decision');
  setImmediate(() => run.approve('c1', { by: 'tester' }));
  const result = await run.result;
  assert.is(result.status, 'done');
  assert.is(starts(c.trace(), 'ask').length, 2);
  await server.close();
  await c.store.close();
});

test.after(() => {
  delete process.env.TRACE_FILE;
  rmSync(dir, { recursive: true, force: true });
});
test.run();
