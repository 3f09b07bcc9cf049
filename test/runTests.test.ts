// scripts/runTests.mjs, the runner of `npm test`, on the files of test/fixtures/runner: two tests
// that pass, two that fail (one in a named suite), a file that exits in the middle of its tests and
// a suite whose before hook throws.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const root = resolve(import.meta.dirname, '..');
const fixtures = 'test/fixtures/runner';

function runTests(...args: string[]) {
  const run = spawnSync(process.execPath, [resolve(root, 'scripts/runTests.mjs'), '--dir', fixtures, ...args], { cwd: root, encoding: 'utf8', timeout: 120_000 });
  return { status: run.status, out: run.stdout, lines: run.stdout.trimEnd().split('\n') };
}

// A process that was killed and whose parent is gone may stay a zombie until init reaps it.
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const stat = existsSync(`/proc/${pid}/stat`) ? readFileSync(`/proc/${pid}/stat`, 'utf8') : '';
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
}

test('names every failing test with its file, lists them again at the end, and ends with the count of tests', () => {
  const run = runTests('--jobs', '2');
  assert.is(run.status, 1, run.out);
  const failures = [
    `${fixtures}/fails.test.ts › "compares two numbers"`,
    `${fixtures}/fails.test.ts › words › "are joined with a space"`,
    `${fixtures}/exits.test.ts exited (code 3) before its tests finished`,
    `${fixtures}/hook.test.ts: 1 test(s) neither passed nor failed (uvu does this when a suite's before or after hook throws)`,
  ];
  for (const failure of failures) assert.ok(run.lines.includes(`FAIL ${failure}`), `printed where it failed: ${failure}\n${run.out}`);
  const listed = run.lines.slice(run.lines.indexOf('Failed:') + 1, -2);
  assert.equal([...listed].sort(), failures.map((failure) => `  ${failure}`).sort(), 'and listed at the end');
  assert.is(run.lines.at(-1), '3 passed, 4 failed');
});

test("prints a file's output whole: its failures and uvu's message for each sit under its own line", () => {
  const run = runTests('--jobs', '4');
  const heading = run.lines.findIndex((line) => line.startsWith(`FAIL ${fixtures}/fails.test.ts  1 passed, 2 failed`));
  assert.ok(heading >= 0, run.out);
  const next = run.lines.findIndex((line, index) => index > heading && /^((ok  |FAIL) \S+  \d+ passed|\d+ test file\(s\) in)/.test(line));
  const block = run.lines.slice(heading, next).join('\n');
  assert.match(block, /FAIL test\/fixtures\/runner\/fails\.test\.ts › "compares two numbers"\n\s+one and one make three/);
  assert.match(block, /FAIL test\/fixtures\/runner\/fails\.test\.ts › words › "are joined with a space"/);
  assert.not.match(block, 'exits.test.ts', 'no other file is printed inside it');
  assert.not.match(run.out, '\x1b[', 'no colour codes into a pipe');
});

test('runs the files named, and exits 0 when their tests pass', () => {
  const run = runTests('passes');
  assert.is(run.status, 0, run.out);
  assert.is(run.lines[0], '1 test file(s), 1 at a time');
  assert.match(run.out, `ok   ${fixtures}/passes.test.ts  2 passed`);
  assert.is(run.lines.at(-1), '2 passed, 0 failed');
});

test('a file that runs past --timeout is stopped with the processes it started, and counts as failed', () => {
  const dir = mkdtempSync(join(tmpdir(), 'statecraft-runtests-'));
  try {
    const pidFile = join(dir, 'pid');
    // Long enough for the file to start its process on a busy machine.
    const args = [resolve(root, 'scripts/runTests.mjs'), '--dir', 'test/fixtures/runnerHang', '--timeout', '15'];
    const run = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8', timeout: 120_000, env: { ...process.env, STATECRAFT_HANG_PID_FILE: pidFile } });
    assert.is(run.status, 1, run.stdout);
    assert.match(run.stdout, 'FAIL test/fixtures/runnerHang/hangs.test.ts timed out after 15.0 s and was stopped');
    assert.is(run.stdout.trimEnd().split('\n').at(-1), '0 passed, 1 failed');
    const pid = Number(readFileSync(pidFile, 'utf8'));
    assert.not.ok(alive(pid), 'the process the test started was ended too');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a name that matches no file is a usage error', () => {
  const run = spawnSync(process.execPath, [resolve(root, 'scripts/runTests.mjs'), '--dir', fixtures, 'no-such-file'], { cwd: root, encoding: 'utf8' });
  assert.is(run.status, 2);
  assert.match(run.stderr, `no test file in ${fixtures} matches no-such-file`);
});

test.run();
