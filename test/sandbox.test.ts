import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ToolError } from '../src/errors.ts';
import { probeSandbox } from '../src/sandbox/probeSandbox.ts';
import { runSandboxed, type RunSandboxedOptions } from '../src/sandbox/runSandboxed.ts';

const base = realpathSync(mkdtempSync(join(tmpdir(), 'statecraft-sbx-')));
const root = join(base, 'ws');
mkdirSync(root);
const probe = await probeSandbox();
const run = (command: string, extra: Partial<RunSandboxedOptions> = {}) =>
  runSandboxed({ command, cwd: root, workspaceRoot: root, timeoutMs: 30_000, killGraceMs: 500, ...extra });

function processesMatching(marker: string): number[] {
  const found: number[] = [];
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(marker)) found.push(Number(pid));
    } catch {
      // The process ended while we looked.
    }
  }
  return found;
}

async function noneLeft(marker: string): Promise<number[]> {
  for (let i = 0; i < 50; i++) {
    if (processesMatching(marker).length === 0) return [];
    await new Promise((r) => setTimeout(r, 100));
  }
  return processesMatching(marker);
}

test('the probe starts bubblewrap here, or says why not', () => {
  if (probe.available) assert.is(probe.kind, 'bubblewrap');
  else {
    assert.is(probe.kind, 'none');
    assert.type(probe.reason, 'string');
  }
});

test('a required sandbox that cannot start refuses to run and says how to opt out', async () => {
  const missing = await probeSandbox({ bwrapPath: join(base, 'no-bwrap') });
  assert.is(missing.available, false);
  assert.match(missing.reason ?? '', 'not installed');
  try {
    await run(`touch ${join(root, 'should-not-exist')}`, { bwrapPath: join(base, 'no-bwrap') });
    assert.unreachable('expected a refusal');
  } catch (error) {
    assert.instance(error, ToolError);
    assert.match((error as Error).message, 'not installed');
    assert.match((error as Error).message, "sandbox: 'off'");
    assert.match((error as Error).message, 'unsafe');
  }
  assert.not.ok(existsSync(join(root, 'should-not-exist')));
});

if (probe.available) {
  test('bubblewrap: writes in the workspace, not in /etc nor in the parent folder', async () => {
    const result = await run(`echo inside > made.txt && cat made.txt; touch /etc/statecraft-probe; touch ${base}/escaped; touch ../escaped2`);
    assert.is(result.sandboxed, true);
    assert.is(result.stdout, 'inside\n');
    assert.is(readFileSync(join(root, 'made.txt'), 'utf8'), 'inside\n');
    assert.match(result.stderr, 'Read-only file system');
    assert.not.ok(existsSync('/etc/statecraft-probe'));
    assert.not.ok(existsSync(join(base, 'escaped')));
    assert.not.ok(existsSync(join(base, 'escaped2')));
  });

  test('bubblewrap: the network is unreachable, even a server listening on the host loopback', async () => {
    let connections = 0;
    const server: Server = createServer((socket) => {
      connections += 1;
      socket.destroy();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    const command = `bash -c 'echo hi > /dev/tcp/127.0.0.1/${port}' && echo connected`;
    try {
      const sandboxed = await run(command);
      assert.is.not(sandboxed.exitCode, 0);
      assert.is.not(sandboxed.stdout, 'connected\n');
      assert.is(connections, 0);
      const host = await run(command, { sandbox: 'off' });
      assert.is(host.stdout, 'connected\n', 'the same command reaches the server without the sandbox');
    } finally {
      server.close();
    }
  });

  test('bubblewrap: the parent environment is not visible, only the allowlist', async () => {
    process.env.STATECRAFT_CANARY_SECRET = 'canary-value-1234';
    try {
      const result = await run('env', { env: { GRANTED: 'yes' } });
      assert.not.match(result.stdout, 'STATECRAFT_CANARY_SECRET');
      assert.not.match(result.stdout, 'canary-value-1234');
      assert.match(result.stdout, `HOME=${root}`);
      assert.match(result.stdout, 'GRANTED=yes');
    } finally {
      delete process.env.STATECRAFT_CANARY_SECRET;
    }
  });

  test('bubblewrap: resource limits apply', async () => {
    const result = await run('ulimit -t; head -c 200000 /dev/zero > big.bin; echo "rc=$?"', {
      limits: { cpuSeconds: 7, fileSizeBytes: 100_000 },
    });
    assert.match(result.stdout, /^7\n/);
    assert.match(result.stdout, /rc=[1-9]/);
  });

  test('bubblewrap: a timeout kills the whole group, background children included', async () => {
    const result = await run('sleep 31711 & sleep 31712', { timeoutMs: 300 });
    assert.is(result.timedOut, true);
    assert.is(result.exitCode, null);
    assert.equal(await noneLeft('sleep 3171'), []);
  });

  test('bubblewrap: an abort kills the whole group', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 300);
    const result = await run('sleep 31721 & sleep 31722', { signal: controller.signal });
    assert.is(result.aborted, true);
    assert.is(result.timedOut, false);
    assert.equal(await noneLeft('sleep 3172'), []);
  });

  test('bubblewrap: output is capped with a note', async () => {
    const result = await run("head -c 100000 /dev/zero | tr '\\0' a", { maxOutputBytes: 1000 });
    assert.is(result.truncated, true);
    assert.is(result.stdout.indexOf('[output cut'), 1001);
    assert.match(result.stdout, '99000 more bytes were dropped');
  });
}

test('sandbox off: runs on the host, still with a cleared environment and group kill', async () => {
  process.env.STATECRAFT_CANARY_SECRET = 'canary-value-5678';
  try {
    const env = await run('env', { sandbox: 'off' });
    assert.is(env.sandboxed, false);
    assert.not.match(env.stdout, 'canary-value-5678');
  } finally {
    delete process.env.STATECRAFT_CANARY_SECRET;
  }
  const result = await run('(sleep 31731 &); sleep 31732', { sandbox: 'off', timeoutMs: 300 });
  assert.is(result.timedOut, true);
  assert.equal(await noneLeft('sleep 3173'), []);
});

test.after(() => rmSync(base, { recursive: true, force: true }));

test.run();
