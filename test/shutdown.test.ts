// The CLI ends when its run ends or is cancelled, whatever the agent module opened, and leaves no
// process behind: the module connects to an MCP server at top level (which starts a process of its
// own), and the test reads the CLI's descendants from /proc while it runs and checks them gone after.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cli, cliIn, root } from './fixtures/cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'statecraft-shutdown-'));
const { storeUrl, env, trace, statecraft } = cliIn(dir);
const AGENT = 'test/fixtures/mcp/agent.ts';
const started: ChildProcess[] = [];
const everySeen = new Set<number>();

test.after(() => {
  for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  // Left over only when a test failed; a pid taken by an unrelated process since is left alone.
  for (const pid of everySeen) if (running(pid) && /fixtures\/mcp|setInterval/.test(commandLine(pid))) process.kill(pid, 'SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

/** Parent of every process now, from /proc. */
function parents(): Map<number, number> {
  const map = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      map.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  return map;
}

function descendants(pid: number): number[] {
  const map = parents();
  const found: number[] = [];
  const walk = (parent: number) => {
    for (const [child, ppid] of map) {
      if (ppid !== parent) continue;
      found.push(child);
      walk(child);
    }
  };
  walk(pid);
  return found;
}

const commandLine = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
};

/** A process that exists and is not a zombie. */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

const until = async (check: () => boolean, ms: number): Promise<boolean> => {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return true;
};

interface Cli {
  child: ChildProcess;
  /** Every descendant of the CLI seen while it ran. */
  seen: Set<number>;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** The CLI in a child process, its descendants sampled from /proc until it exits. */
function start(args: string[], extra: Record<string, string> = {}): Cli {
  const child = spawn(process.execPath, [cli, ...args, '--store', storeUrl], { cwd: root, env: { ...env, ...extra }, stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(child);
  let out = '';
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const seen = new Set<number>();
  const sample = setInterval(() => {
    for (const pid of descendants(child.pid!)) {
      seen.add(pid);
      everySeen.add(pid);
    }
  }, 20);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => {
      clearInterval(sample);
      resolve({ code, signal });
    }),
  );
  return { child, seen, output: () => out, exited };
}

/** The CLI's exit, failing (rather than hanging the suite) if it does not come. */
async function exitOf(run: Cli, what: string): Promise<number | null> {
  const timeout = new Promise<'still running'>((resolve) => setTimeout(() => resolve('still running'), 45_000).unref());
  const ended = await Promise.race([run.exited, timeout]);
  if (ended === 'still running') {
    run.child.kill('SIGKILL');
    assert.unreachable(`${what}: the CLI was still running 45 s later. It printed:\n${run.output()}`);
  }
  return (ended as { code: number | null }).code;
}

/** The server and its helper, as the fixture server traced them. */
const serverPids = (): number[] =>
  trace()
    .flatMap((line) => /^server (\d+) helper (\d+)$/.exec(line)?.slice(1) ?? [])
    .map(Number);

async function assertNoneLeft(run: Cli, what: string) {
  const pids = new Set([...run.seen, ...serverPids()]);
  assert.ok(serverPids().length >= 2, `${what}: the fixture server started (trace: ${trace().join(' | ')})`);
  for (const pid of serverPids()) assert.ok(run.seen.has(pid), `${what}: ${pid} was seen among the CLI's descendants`);
  // SIGKILL is sent before the CLI exits; the kernel may take a moment to tear a process down.
  await until(() => [...pids].every((pid) => !running(pid)), 2_000);
  const left = [...pids].filter(running);
  assert.equal(left, [], `${what}: processes outlived the CLI: ${left.map((pid) => `${pid} (${commandLine(pid)})`).join(', ')}`);
}

const traceFile = join(dir, 'trace.txt');
const clearTrace = () => rmSync(traceFile, { force: true });

const statusOf = async (runId: string) => {
  const listed = await statecraft(['runs', '--json']);
  return (JSON.parse(listed.stdout) as { runId: string; status: string; reason?: string }[]).find(
    (run) => run.runId === runId,
  );
};

const runIdOf = (out: string) => /run ([0-9a-f-]{36}) · agent/.exec(out)?.[1];

test('the CLI exits when the run ends, having called dispose once and ended the MCP server and what it started', async () => {
  clearTrace();
  const run = start(['run', AGENT]);
  const code = await exitOf(run, 'run to the end');
  assert.is(code, 0, run.output());
  assert.match(run.output(), /done · final_answer/);
  assert.equal(trace().filter((line) => line === 'dispose'), ['dispose'], 'dispose is called once');
  await assertNoneLeft(run, 'run to the end');
});

for (const [name, signals, expected] of [
  ['Ctrl-C (SIGINT)', ['SIGINT'], 130],
  ['SIGTERM', ['SIGTERM'], 143],
] as const) {
  test(`${name} cancels the run, records it cancelled, exits ${expected} and leaves no process behind`, async () => {
    clearTrace();
    const run = start(['run', AGENT], { MODE: 'slow' });
    assert.ok(await until(() => trace().includes('slow started') || run.child.exitCode !== null, 30_000), `the slow tool started: ${run.output()}`);
    for (const signal of signals) run.child.kill(signal);
    const code = await exitOf(run, name);
    assert.is(code, expected, run.output());
    const runId = runIdOf(run.output());
    assert.ok(runId, run.output());
    const summary = await statusOf(runId!);
    assert.is(summary?.status, 'cancelled', JSON.stringify(summary));
    assert.match(summary?.reason ?? '', new RegExp(`cancelled: Interrupted \\(${signals[0]}\\)`));
    assert.equal(trace().filter((line) => line === 'dispose'), ['dispose'], 'dispose is called once');
    await assertNoneLeft(run, name);
  });
}

test('a second Ctrl-C exits at once, while dispose still hangs, and still ends every child process first', async () => {
  clearTrace();
  const run = start(['run', AGENT], { MODE: 'slow', HANG_DISPOSE: '1' });
  assert.ok(await until(() => trace().includes('slow started') || run.child.exitCode !== null, 30_000), `the slow tool started: ${run.output()}`);
  run.child.kill('SIGINT');
  assert.ok(await until(() => trace().includes('dispose') || run.child.exitCode !== null, 30_000), `dispose was called: ${run.output()}`);
  run.child.kill('SIGINT');
  const code = await exitOf(run, 'double Ctrl-C');
  assert.is(code, 130, run.output());
  const summary = await statusOf(runIdOf(run.output())!);
  assert.is(summary?.status, 'cancelled', 'the first Ctrl-C recorded the cancel');
  await assertNoneLeft(run, 'double Ctrl-C');
});

test('a server that ignores its input ending and SIGTERM, and a dispose hook that never settles, do not keep the CLI alive', async () => {
  clearTrace();
  const run = start(['run', AGENT], { STUBBORN: '1', HANG_DISPOSE: '1' });
  const code = await exitOf(run, 'stubborn server');
  assert.is(code, 0, run.output());
  assert.match(run.output(), /dispose\(\) .*did not settle within 5 s/);
  await assertNoneLeft(run, 'stubborn server');
});

test('approve continues a waiting run in a new process, which exits and ends the server it connected to', async () => {
  clearTrace();
  const waiting = start(['run', AGENT, '--approve', 'wait'], { NEEDS_APPROVAL: '1' });
  assert.is(await exitOf(waiting, 'run --approve wait'), 4, waiting.output());
  await assertNoneLeft(waiting, 'run --approve wait');
  const runId = runIdOf(waiting.output())!;
  clearTrace();
  const approved = start(['approve', runId, '--by', 'ana'], { NEEDS_APPROVAL: '1' });
  assert.is(await exitOf(approved, 'approve'), 0, approved.output());
  assert.equal(trace().filter((line) => line === 'dispose'), ['dispose']);
  await assertNoneLeft(approved, 'approve');
});

test('the inspector, having resumed a run with the Approve button, ends the module it loaded when stopped', async () => {
  clearTrace();
  const waiting = start(['run', AGENT, '--approve', 'wait'], { NEEDS_APPROVAL: '1', MODE: 'slow' });
  assert.is(await exitOf(waiting, 'run --approve wait'), 4, waiting.output());
  const runId = runIdOf(waiting.output())!;
  clearTrace();
  const inspector = start(['inspect', '--port', '0'], { NEEDS_APPROVAL: '1', MODE: 'slow' });
  assert.ok(await until(() => /http:\/\/\S+/.test(inspector.output()) || inspector.child.exitCode !== null, 30_000), inspector.output());
  const url = /(http:\/\/\S+?)(#|\s)/.exec(inspector.output())![1]!;
  const page = await (await fetch(url)).text();
  const token = /name="statecraft-token" content="([^"]+)"/.exec(page)![1]!;
  const response = await fetch(new URL(`/api/runs/${runId}/approve`, url), {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-statecraft-token': token, origin: new URL(url).origin },
    body: JSON.stringify({ callId: 'call_1' }),
  });
  assert.is(response.status, 200, await response.text());
  assert.ok(await until(() => trace().includes('slow started'), 30_000), `the approved call runs in the inspector: ${inspector.output()}`);
  inspector.child.kill('SIGINT');
  assert.is(await exitOf(inspector, 'inspector'), 0, inspector.output());
  assert.equal(trace().filter((line) => line === 'dispose'), ['dispose']);
  const summary = await statusOf(runId);
  assert.is(summary?.status, 'cancelled', `the run the inspector held is recorded cancelled: ${JSON.stringify(summary)}`);
  await assertNoneLeft(inspector, 'inspector');
});

test.run();
