import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cli, cliIn, root } from './fixtures/cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'statecraft-cli-inspect-'));
const { statecraft, storeUrl, env } = cliIn(dir);
test.after(() => rmSync(dir, { recursive: true, force: true }));

/** Starts `statecraft inspect`, waits for its banner, and stops it with Ctrl-C; returns what it printed and its exit code. */
async function inspecting(args: string[], extraEnv: Record<string, string>, use: (out: string) => Promise<void>) {
  const child = spawn(process.execPath, [cli, 'inspect', '--port', '0', ...args, '--store', storeUrl], { cwd: root, env: { ...env, ...extraEnv } });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk));
  child.stderr.on('data', (chunk: Buffer) => (out += chunk));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    await Promise.race([
      new Promise<void>((resolve) => child.stdout.on('data', () => out.includes('Press Ctrl-C to stop.') && resolve())),
      exited.then((code) => Promise.reject(new Error(`statecraft inspect exited ${code}: ${out}`))),
    ]);
    await use(out);
  } finally {
    child.kill('SIGINT');
  }
  return { code: await exited, out };
}

const status = async (url: string, token?: string) => (await fetch(url, token ? { headers: { 'x-statecraft-token': token } } : {})).status;

test('statecraft inspect --host 0.0.0.0 prints the link with its token, says who can act, and requires the token', async () => {
  const token = 'stable-token-from-the-environment';
  const { code } = await inspecting(['--host', '0.0.0.0'], { STATECRAFT_INSPECTOR_TOKEN: token }, async (out) => {
    const link = /Statecraft inspector: (\S+)/.exec(out)?.[1] ?? '';
    assert.match(link, new RegExp(`^http://127\\.0\\.0\\.1:\\d+/#token=${token}$`), out);
    assert.match(out, /Listening on 0\.0\.0\.0:\d+, which is not loopback only: anyone who has this token can read every run and approve, reject or fork/);
    const runs = new URL('/api/runs', link).toString();
    assert.is(await status(runs), 403, 'no token, no runs');
    assert.is(await status(runs, token), 200);
  });
  assert.is(code, 0);
});

test('statecraft inspect --token requires the token on loopback too, over the environment variable', async () => {
  const token = 'given-on-the-command-line';
  await inspecting(['--token', token], { STATECRAFT_INSPECTOR_TOKEN: 'the-environment-loses-here' }, async (out) => {
    const link = /Statecraft inspector: (\S+)/.exec(out)?.[1] ?? '';
    assert.ok(link.endsWith(`#token=${token}`), out);
    assert.match(out, /Anyone who has this token can read every run/);
    assert.is(await status(new URL('/api/runs', link).toString()), 403);
  });
});

test('statecraft inspect on loopback prints a link without a token and needs none to read', async () => {
  await inspecting([], { STATECRAFT_INSPECTOR_TOKEN: '' }, async (out) => {
    const link = /Statecraft inspector: (\S+)/.exec(out)?.[1] ?? '';
    assert.match(link, /^http:\/\/127\.0\.0\.1:\d+\/$/, out);
    assert.not.match(out, /token/);
    assert.is(await status(new URL('/api/runs', link).toString()), 200);
  });
});

test('a guessable --token and an address not of this machine are refused before anything listens', async () => {
  const weak = await statecraft(['inspect', '--token', 'hunter2']);
  assert.is(weak.code, 2, weak.out);
  assert.match(weak.out, /--token must be at least 16 characters .*found 7/);
  const elsewhere = await statecraft(['inspect', '--host', '203.0.113.7', '--port', '0']);
  assert.is(elsewhere.code, 2, elsewhere.out);
  assert.match(elsewhere.out, /could not listen on 203\.0\.113\.7 \(EADDRNOTAVAIL\): give an address of this machine/);
});

test.run();
