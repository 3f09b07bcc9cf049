// Runs the test files, each in a process of its own (uvu under tsx), several at a time, longest
// first. A file's output is held until it ends and printed whole, so files never interleave; every
// failing test is printed with its file, listed again at the end, and the last line is
// "N passed, N failed" (tests, from each file's uvu summary). Exits 1 when anything failed.
//
//   node scripts/runTests.mjs [--jobs N] [--timeout S] [--verbose] [--dir test] [file or part of a name ...]
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const uvu = join(root, 'node_modules/uvu/bin.js');

const { values: options, positionals: wanted } = parseArgs({
  allowPositionals: true,
  options: {
    jobs: { type: 'string', short: 'j', default: process.env.STATECRAFT_TEST_JOBS ?? String(defaultJobs()) },
    timeout: { type: 'string', default: '600' },
    verbose: { type: 'boolean', short: 'v', default: false },
    dir: { type: 'string', default: 'test' },
  },
});
const jobs = Number(options.jobs);
const timeoutMs = Number(options.timeout) * 1000;
if (!Number.isInteger(jobs) || jobs < 1) usage(`--jobs must be a whole number of 1 or more, found "${options.jobs}"`);
if (!(timeoutMs > 0)) usage(`--timeout must be a number of seconds above 0, found "${options.timeout}"`);

const color = process.stdout.isTTY && !process.env.NO_COLOR;
const paint = (code, text) => (color ? `\x1b[${code}m${text}\x1b[0m` : text);
const ansi = /\x1b\[[0-9;]*m/g;

const dir = resolve(root, options.dir);
// Each file's time in the last run, for the order of the next (kept for the project's own tests only).
const timesFile = dir === join(root, 'test') ? join(root, 'node_modules/.cache/statecraft/test-times.json') : undefined;
const all = listTests(dir);
const files = wanted.length === 0 ? all : all.filter((file) => wanted.some((want) => matches(file, want)));
if (files.length === 0) usage(wanted.length ? `no test file in ${relative(root, dir) || '.'} matches ${wanted.join(', ')}` : `no test file in ${dir}`);

const times = readTimes();
// Longest first, by the last run's times, so that the pool does not end waiting on one slow file
// started last. A file not timed yet goes before the others, the longer (in bytes) the sooner.
const estimate = (file) => times[file] ?? 1e9 + statSync(join(root, file)).size;
const queue = [...files].sort((a, b) => estimate(b) - estimate(a) || a.localeCompare(b));
const running = new Map();
const results = [];
const started = Date.now();
let stopping = false;

// Files run in process groups of their own (below), so the runner ends them when it is stopped.
const stop = (code, why) => {
  stopping = true;
  for (const child of running.keys()) killGroup(child, 'SIGKILL');
  if (why) process.stderr.write(`\n${why}: stopped ${running.size} test file(s) still running\n`);
  process.exit(code);
};
process.on('SIGINT', () => stop(130, 'SIGINT'));
process.on('SIGTERM', () => stop(143, 'SIGTERM'));
process.stdout.on('error', () => stop(1)); // the reader went away (| head)

console.log(`${files.length} test file(s), ${Math.min(jobs, files.length)} at a time`);
await new Promise((done) => {
  const next = () => {
    if (stopping) return;
    if (queue.length === 0 && running.size === 0) return done();
    while (queue.length > 0 && running.size < jobs) {
      const file = queue.shift();
      start(file, (result) => {
        results.push(result);
        times[file] = result.ms;
        report(result);
        next();
      });
    }
  };
  next();
});

const passed = sum(results.map((result) => result.passed));
const failed = sum(results.map((result) => result.failed));
const skipped = sum(results.map((result) => result.skipped));
writeTimes(times);
console.log(`\n${files.length} test file(s) in ${seconds(Date.now() - started)}, ${Math.min(jobs, files.length)} at a time${skipped ? `; ${skipped} test(s) skipped` : ''}`);
if (failed > 0) {
  console.log(paint('31', `\nFailed:`));
  for (const result of results) for (const failure of result.failures) console.log(`  ${failure}`);
  console.log('');
}
console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed > 0 ? 1 : 0;

function start(file, finish) {
  const name = relative(dir, join(root, file));
  const pattern = `^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`;
  // Its own process group, so that a timeout or a stop also ends what the file started.
  const child = spawn(process.execPath, ['--import', 'tsx', uvu, relative(root, dir) || '.', pattern], { cwd: root, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const chunks = [];
  child.stdout.on('data', (chunk) => chunks.push(chunk));
  child.stderr.on('data', (chunk) => chunks.push(chunk));
  const began = Date.now();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup(child, 'SIGKILL');
  }, timeoutMs);
  running.set(child, file);
  child.on('close', (code, signal) => {
    clearTimeout(timer);
    running.delete(child);
    // Whatever the file left running in its group goes with it.
    killGroup(child, 'SIGKILL');
    finish(summarize(file, Buffer.concat(chunks).toString('utf8').replace(ansi, ''), { code, signal, timedOut, ms: Date.now() - began }));
  });
}

function summarize(file, output, { code, signal, timedOut, ms }) {
  const count = (label) => {
    const found = [...output.matchAll(new RegExp(`^\\s*${label}:\\s*(\\d+)`, 'gm'))].at(-1);
    return found ? Number(found[1]) : undefined;
  };
  const total = count('Total');
  const passed = count('Passed') ?? 0;
  const skipped = count('Skipped') ?? 0;
  const failures = [];
  // uvu prints each failure as `FAIL  [suite  ]"test"`; name it with its file.
  const lines = output.split('\n').map((line) => {
    const failure = /^\s*FAIL\s+(?:(.+?)\s{2,})?"(.*)"\s*$/.exec(line);
    if (!failure) return line && `    ${line}`;
    const named = `${file} › ${failure[1] ? `${failure[1]} › ` : ''}"${failure[2]}"`;
    failures.push(named);
    return `FAIL ${named}`;
  });
  const notes = [];
  let failed = failures.length;
  // uvu counts the tests of a suite whose `before` hook threw as neither passed nor failed, and exits 0.
  const unaccounted = (total ?? 0) - passed - failed;
  if (unaccounted > 0) {
    notes.push(`${file}: ${unaccounted} test(s) neither passed nor failed (uvu does this when a suite's before or after hook throws)`);
    failed += unaccounted;
  }
  const ended = timedOut
    ? `timed out after ${seconds(timeoutMs)} and was stopped`
    : total === undefined
      ? `exited (${signal ?? `code ${code}`}) before its tests finished`
      : code !== 0 && failed === 0
        ? `exited with ${signal ?? `code ${code}`} after its tests passed`
        : undefined;
  if (ended) {
    notes.push(`${file} ${ended}`);
    failed += 1;
  }
  // The counts are on the file's own line; uvu's summary goes, and so do runs of blank lines.
  const shown = lines.filter((line) => !/^\s*(Total|Passed|Skipped|Duration):/.test(line)).join('\n').replace(/\n{3,}/g, '\n\n').trim();
  return { file, output: shown ? `    ${shown}` : '', passed, failed, skipped, failures: [...failures, ...notes], notes, ms };
}

function report({ file, output, passed, failed, skipped, notes, ms }) {
  const counts = `${passed} passed${failed ? `, ${failed} failed` : ''}${skipped ? `, ${skipped} skipped` : ''}`;
  let text = `${failed ? paint('31', 'FAIL') : paint('32', 'ok  ')} ${file}  ${counts}  ${paint('2', seconds(ms))}\n`;
  if (failed || options.verbose) text += `${output ? `${output}\n` : ''}${notes.map((note) => `FAIL ${note}\n`).join('')}\n`;
  process.stdout.write(text);
}

function listTests(folder) {
  if (!existsSync(folder)) usage(`no folder ${folder}`);
  const found = [];
  const walk = (at) => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      const path = join(at, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== 'fixtures' && entry.name !== 'node_modules') walk(path);
      } else if (/\.test\.[mc]?[jt]s$/.test(entry.name)) found.push(relative(root, path));
    }
  };
  walk(folder);
  return found.sort();
}

function matches(file, want) {
  const path = relative(root, resolve(want));
  return file === path || file.includes(want);
}

function killGroup(child, signal) {
  try {
    process.kill(-child.pid, signal);
  } catch {
    // The group has already ended.
  }
}

function readTimes() {
  if (!timesFile) return {};
  try {
    return JSON.parse(readFileSync(timesFile, 'utf8'));
  } catch {
    return {};
  }
}

function writeTimes(value) {
  if (!timesFile) return;
  try {
    mkdirSync(dirname(timesFile), { recursive: true });
    writeFileSync(timesFile, `${JSON.stringify(value, null, 1)}\n`);
  } catch {
    // Only the order of the next run depends on it.
  }
}

// Two per core: most of a test file's time is spent waiting on the processes and servers it starts.
function defaultJobs() {
  return 2 * availableParallelism();
}

function seconds(ms) {
  return ms < 60_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

function sum(numbers) {
  return numbers.reduce((a, b) => a + b, 0);
}

function usage(message) {
  console.error(`test: ${message}\nUsage: node scripts/runTests.mjs [--jobs N] [--timeout seconds] [--verbose] [--dir test] [file or part of a name ...]`);
  process.exit(2);
}
