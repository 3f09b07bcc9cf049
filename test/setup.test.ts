// scripts/setup.mjs (npm pretest) installs bubblewrap when it can; when it cannot, the tests still run.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const root = resolve(import.meta.dirname, '..');

test('a failing apt-get is a warning naming what was not installed and which tests it affects, and setup exits 0', () => {
  // A PATH with a shell and an apt-get that fails, and no bwrap: bubblewrap is missing and cannot be installed.
  const bin = mkdtempSync(join(tmpdir(), 'statecraft-setup-'));
  try {
    symlinkSync(spawnSync('sh', ['-c', 'command -v sh'], { encoding: 'utf8' }).stdout.trim(), join(bin, 'sh'));
    writeFileSync(join(bin, 'apt-get'), '#!/bin/sh\necho "E: Could not get lock /var/lib/apt/lists/lock" >&2\nexit 100\n');
    chmodSync(join(bin, 'apt-get'), 0o755);
    const setup = spawnSync(process.execPath, [join(root, 'scripts/setup.mjs')], { cwd: bin, env: { PATH: bin }, encoding: 'utf8' });
    assert.is(setup.status, 0, setup.stderr);
    // Only root may install; anyone else is told how to.
    if (process.getuid?.() === 0) assert.match(setup.stderr, 'setup: warning: could not install bubblewrap');
    else assert.match(setup.stderr, 'setup: bubblewrap not installed');
    assert.match(setup.stderr, 'test/sandbox.test.ts will skip its bubblewrap tests');
    assert.match(setup.stderr, 'the filesystem agent test in test/examples.test.ts will fail');
  } finally {
    rmSync(bin, { recursive: true, force: true });
  }
});

test.run();
