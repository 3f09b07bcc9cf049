// What a CLI user expects of any command line tool: --version, colour only where wanted (NO_COLOR,
// FORCE_COLOR), the time a run took, --json output of one documented shape per command, and SIGTERM
// taken as Ctrl-C (for a run, shutdown.test.ts: both cancel it and record it cancelled).
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cli, cliIn, root } from './fixtures/cli.ts';

const exec = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'statecraft-cli-conventions-'));
const { statecraft, storeUrl, env } = cliIn(dir);
const DEMO = 'examples/demo/agent.ts';

/** The demo run, with `extra` in its environment (NO_COLOR is taken out: each test says what it wants). */
const demo = async (extra: Record<string, string>, args: string[] = []) => {
  const { NO_COLOR: _, FORCE_COLOR: __, ...rest } = env as NodeJS.ProcessEnv;
  const { stdout, stderr } = await exec(process.execPath, [cli, 'run', DEMO, '--store', storeUrl, ...args], { cwd: root, env: { ...rest, ...extra }, timeout: 60_000 });
  return { stdout, stderr };
};

test('--version and -v print the version of the package, and nothing else', async () => {
  const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  for (const flag of ['--version', '-v']) {
    const result = await statecraft([flag]);
    assert.is(result.code, 0, result.out);
    assert.is(result.stdout, `${version}\n`);
  }
});

test('progress is coloured on a pipe only when FORCE_COLOR asks; NO_COLOR, which wins, and FORCE_COLOR=0 keep it plain', async () => {
  const ESC = '\x1b[';
  assert.ok((await demo({ FORCE_COLOR: '1' })).stdout.includes(ESC), 'FORCE_COLOR=1 colours a pipe');
  assert.ok((await demo({ FORCE_COLOR: '1', NO_COLOR: '' })).stdout.includes(ESC), 'an empty NO_COLOR does not count');
  for (const plain of [{}, { NO_COLOR: '1' }, { NO_COLOR: '1', FORCE_COLOR: '1' }, { FORCE_COLOR: '0' }] as Record<string, string>[]) {
    const { stdout, stderr } = await demo(plain);
    assert.match(stdout, 'done · final_answer', stdout);
    assert.not.ok(stdout.includes(ESC) || stderr.includes(ESC), `no colour with ${JSON.stringify(plain)}`);
  }
});

test('the summary at the end of a run gives the time it took', async () => {
  const { stdout } = await demo({ NO_COLOR: '1' });
  assert.match(stdout, /^done · final_answer · \d+ steps · [\d,]+ tokens · [^\n]* · \d+\.\d s$/m);
});

test('streams print JSON Lines: run --json gives one event per line, the last one the end', async () => {
  const { stdout } = await demo({}, ['--json']);
  const events = stdout.trim().split('\n').map((line) => JSON.parse(line) as { type: string });
  assert.ok(events.length > 2, stdout);
  assert.is(events.at(-1)!.type, 'end');
});

test('lists and reports print one JSON document: runs, history, show, replay and verify', async () => {
  const runs = await statecraft(['runs', '--json']);
  const listed = JSON.parse(runs.stdout) as { runId: string; status: string }[];
  assert.ok(Array.isArray(listed) && listed.length > 0, runs.out);
  const { runId } = listed[0]!;
  const history = JSON.parse((await statecraft(['history', runId, '--json'])).stdout) as { seq: number }[];
  assert.equal(history.map((entry) => entry.seq).slice(0, 3), [0, 1, 2]);
  const shown = JSON.parse((await statecraft(['show', runId, '--json'])).stdout) as { record: { seq: number }; snapshot: unknown };
  assert.is(shown.record.seq, history.at(-1)!.seq);
  const replayed = JSON.parse((await statecraft(['replay', runId, '--json'])).stdout) as { ok: boolean };
  assert.is(replayed.ok, true);
  const verified = JSON.parse((await statecraft(['verify', runId, '--json'])).stdout) as { problems: unknown[] };
  assert.equal(verified.problems, []);
});

test('runs --json on a store not made yet prints an empty list, and says why on stderr', async () => {
  const missing = `sqlite:${join(dir, 'none.db')}`;
  const { stdout, stderr } = await exec(process.execPath, [cli, 'runs', '--json', '--store', missing], { cwd: root, env });
  assert.equal(JSON.parse(stdout), []);
  assert.match(stderr, 'No run store');
});

/** `statecraft inspect` started, then sent `signal` once it listens: its exit code and what it printed. */
async function stopInspector(signal: NodeJS.Signals) {
  const child = spawn(process.execPath, [cli, 'inspect', '--port', '0', '--store', storeUrl], { cwd: root, env });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk;
    if (out.includes('Press Ctrl-C to stop.')) child.kill(signal);
  });
  child.stderr.on('data', (chunk: Buffer) => (out += chunk));
  const code = await new Promise<number | null>((resolve) => child.on('exit', (exit) => resolve(exit)));
  return { code, out };
}

test('SIGTERM stops the inspector as Ctrl-C does: it exits 0', async () => {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    const { code, out } = await stopInspector(signal);
    assert.match(out, 'Statecraft inspector: http://127.0.0.1:');
    assert.is(code, 0, `${signal}: ${out}`);
  }
});

test.run();
