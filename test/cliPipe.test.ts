// The CLI's output piped to a reader that stops early, as `statecraft runs --json | head -1` does.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { defineAgent, openStore, runAgent } from '../src/index.ts';
import { scriptedModel } from '../src/testing/index.ts';
import { cli, cliIn, root } from './fixtures/cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'statecraft-cli-pipe-'));
const { storeUrl, env } = cliIn(dir);

test.before(async () => {
  const store = openStore(storeUrl);
  await runAgent(defineAgent({ name: 'short', model: scriptedModel([{ content: 'one' }]) }), 'go', { store, runId: 'pipe0001-aaaa' });
  await store.close();
});

test.after(() => rmSync(dir, { recursive: true, force: true }));

/** The CLI with its standard output closed before it writes, so its first write finds no reader. */
const closedOutput = (args: string[]) =>
  new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [cli, ...args, '--store', storeUrl], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('close', (code) => resolve({ code, stderr }));
  });

test('a command whose output reader has gone stops quietly with exit 0, without an EPIPE stack trace', async () => {
  for (const args of [['runs', '--json'], ['runs'], ['history', 'pipe0001', '--json'], ['show', 'pipe0001']]) {
    const { code, stderr } = await closedOutput(args);
    assert.is(code, 0, `${args.join(' ')}: ${stderr}`);
    assert.is(stderr, '', args.join(' '));
  }
});

test.run();
