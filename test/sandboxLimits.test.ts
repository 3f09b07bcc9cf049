import { execFile } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ToolError } from '../src/errors.ts';
import { probeSandbox } from '../src/sandbox/probeSandbox.ts';
import { runSandboxed, type RunSandboxedOptions } from '../src/sandbox/runSandboxed.ts';

const base = realpathSync(mkdtempSync(join(tmpdir(), 'statecraft-limits-')));
const root = join(base, 'ws');
mkdirSync(root);
const probe = await probeSandbox();
const isRoot = process.getuid?.() === 0;
const run = (command: string, extra: Partial<RunSandboxedOptions> = {}) =>
  runSandboxed({ command, cwd: root, workspaceRoot: root, timeoutMs: 30_000, killGraceMs: 500, ...extra });
const MiB = 1024 * 1024;

function cmdlinesContaining(text: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (cmdline.includes(text)) found.push(`${pid}: ${cmdline.replaceAll('\0', ' ')}`);
    } catch {
      // The process ended while we looked.
    }
  }
  return found;
}

test('without prlimit the command is refused, naming the limits, and does not run', async () => {
  try {
    await run('touch ran.txt', { prlimitPath: join(base, 'no-prlimit') });
    assert.unreachable('expected a refusal');
  } catch (error) {
    assert.instance(error, ToolError);
    assert.match((error as Error).message, 'The command was not run');
    assert.match((error as Error).message, 'prlimit');
    assert.match((error as Error).message, 'processes');
  }
  assert.not.ok(existsSync(join(root, 'ran.txt')));
});

test('limits that are not whole numbers, or unknown, are refused before anything runs', async () => {
  for (const limits of [{ tmpBytes: -1 }, { processes: 1.5 }, { nproc: 3 }]) {
    try {
      await run('touch ran.txt', { limits: limits as RunSandboxedOptions['limits'] });
      assert.unreachable('expected a refusal');
    } catch (error) {
      assert.match((error as Error).message, 'sandbox limits');
    }
  }
  assert.not.ok(existsSync(join(root, 'ran.txt')));
});

if (probe.available) {
  test('a fork bomb stops at the process limit', async () => {
    const result = await run('i=0; while [ $i -lt 40 ]; do (echo x >> started; exec sleep 20) & i=$((i+1)); done; wait', {
      limits: { processes: 16 },
      timeoutMs: 5_000,
    });
    const started = readFileSync(join(root, 'started'), 'utf8').split('\n').filter(Boolean).length;
    rmSync(join(root, 'started'));
    assert.ok(started < 16, `${started} processes started under a limit of 16`);
    assert.match(result.stderr, /fork/i);
  });

  test('/tmp and /dev/shm hold no more than their size; the root and /dev are read-only', async () => {
    const result = await run(
      'head -c 3000000 /dev/zero > /tmp/big; echo tmp=$?; head -c 3000000 /dev/zero > /dev/shm/big; echo shm=$?; ' +
        'echo x > /new-file; echo root=$?; echo x > /dev/new-file; echo dev=$?; echo size=$(wc -c < /tmp/big)',
      { limits: { tmpBytes: MiB } },
    );
    assert.match(result.stdout, /tmp=[1-9]/);
    assert.match(result.stdout, /shm=[1-9]/);
    assert.match(result.stdout, /root=[1-9]/);
    assert.match(result.stdout, /dev=[1-9]/);
    const size = Number(/size=(\d+)/.exec(result.stdout)?.[1]);
    assert.ok(size <= MiB, `${size} bytes in /tmp`);
    assert.match(result.stderr, 'No space left on device');
  });

  test('a command that makes the workspace grow past its limit is stopped', async () => {
    mkdirSync(join(root, 'grow'));
    // The watch measures the file system, which other processes share: files they delete meanwhile
    // (other tests, run beside this one) make room. The command writes far past the limit, so that
    // only deletes of hundreds of MiB within seconds could hide its growth.
    const result = await run('i=0; while [ $i -lt 400 ]; do head -c 524288 /dev/zero > grow/f$i; i=$((i+1)); sleep 0.02; done; echo finished', {
      limits: { workspaceBytes: 4 * MiB },
    });
    const written = readdirSync(join(root, 'grow')).length;
    rmSync(join(root, 'grow'), { recursive: true });
    assert.match(result.stoppedBy ?? '', 'the workspace grew by');
    assert.match(result.stoppedBy ?? '', `limit of ${4 * MiB} bytes`);
    assert.not.match(result.stdout, 'finished');
    assert.ok(written < 400, `${written} files of 512 KiB were written under a limit of 4 MiB`);
  });

  test('commands never run as root and cannot read root-only files', async () => {
    const result = await run('id -u; cat /etc/shadow; echo rc=$?');
    assert.is.not(result.stdout.split('\n')[0], '0');
    assert.match(result.stdout, /rc=[1-9]/);
    assert.match(result.stderr, 'Permission denied');
  });

  test('environment values reach the command and never appear on a command line', async () => {
    const canary = `canary-env-${process.pid}-4242`;
    const seen = await run('echo "$GRANTED_SECRET"', { env: { GRANTED_SECRET: canary } });
    assert.is(seen.stdout, `${canary}\n`);
    const running = run('sleep 2', { env: { GRANTED_SECRET: canary } });
    let found: string[] = [];
    for (let i = 0; i < 15 && found.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      found = cmdlinesContaining(canary);
    }
    await running;
    assert.equal(found, []);
  });

  if (isRoot) {
    test('as root, the workspace stays writable and what a command creates belongs to the workspace owner', async () => {
      const made = await run('echo one > by-root-ws.txt && echo two >> by-root-ws.txt && cat by-root-ws.txt');
      assert.is(made.stdout, 'one\ntwo\n');
      assert.is(statSync(join(root, 'by-root-ws.txt')).uid, 0);
      const owned = join(base, 'owned');
      mkdirSync(owned, { mode: 0o700 });
      chownSync(owned, 4321, 4321);
      const asOwner = await run('id -u; echo hi > made.txt', { cwd: owned, workspaceRoot: owned });
      assert.is(asOwner.stdout, '4321\n');
      assert.is(statSync(join(owned, 'made.txt')).uid, 4321);
      assert.is(statSync(join(owned, 'made.txt')).gid, 4321);
    });

    test('a normal user running bubblewrap gets the same limits', async () => {
      const home = realpathSync(mkdtempSync(join(tmpdir(), 'statecraft-limits-user-')));
      chmodSync(home, 0o755);
      const ws = join(home, 'ws');
      mkdirSync(ws);
      chownSync(ws, 65534, 65534);
      const module = resolve(import.meta.dirname, '../src/sandbox/runSandboxed.ts');
      const script = `
        const { runSandboxed } = await import(${JSON.stringify(module)});
        const result = await runSandboxed({
          command: 'id -u; echo hi > made.txt; head -c 3000000 /dev/zero > /tmp/big; echo tmp=$?; i=0; while [ $i -lt 40 ]; do (echo x >> started; exec sleep 20) & i=$((i+1)); done; wait',
          cwd: ${JSON.stringify(ws)}, workspaceRoot: ${JSON.stringify(ws)}, timeoutMs: 15000, killGraceMs: 500,
          limits: { processes: 16, tmpBytes: ${MiB} },
        });
        process.stdout.write(JSON.stringify(result));
      `;
      try {
        const stdout = await new Promise<string>((done, fail) =>
          execFile(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { uid: 65534, gid: 65534, cwd: resolve(import.meta.dirname, '..'), env: { PATH: process.env.PATH ?? '', HOME: home }, timeout: 60_000 }, (error, out, err) =>
            error ? fail(new Error(`${error.message}\n${err}`)) : done(out),
          ),
        );
        // A machine busy with other tests may take seconds to get the command to its loop: it has 15.
        const result = JSON.parse(stdout) as { stdout: string; stderr?: string; sandboxed: boolean };
        assert.is(result.sandboxed, true);
        assert.match(result.stdout, /^65534\n/);
        assert.match(result.stdout, /tmp=[1-9]/);
        assert.is(readFileSync(join(ws, 'made.txt'), 'utf8'), 'hi\n');
        assert.ok(existsSync(join(ws, 'started')), `no process of the loop started: ${JSON.stringify(result)}`);
        const started = readFileSync(join(ws, 'started'), 'utf8').split('\n').filter(Boolean).length;
        assert.ok(started < 16, `${started} processes started under a limit of 16`);
      } finally {
        rmSync(home, { recursive: true, force: true });
      }
    });
  }
}

test.after(() => rmSync(base, { recursive: true, force: true }));

test.run();
