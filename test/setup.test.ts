// scripts/setup.mjs (npm pretest) installs bubblewrap and chromium when they are missing and it can; when it cannot, the tests still run.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
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

test('only the missing packages are installed, without their recommended packages', () => {
  // A PATH with a shell, a bwrap, and an apt-get that records its arguments: chromium alone is missing.
  const bin = mkdtempSync(join(tmpdir(), 'statecraft-setup-'));
  try {
    symlinkSync(spawnSync('sh', ['-c', 'command -v sh'], { encoding: 'utf8' }).stdout.trim(), join(bin, 'sh'));
    writeFileSync(join(bin, 'bwrap'), '#!/bin/sh\nexit 0\n');
    writeFileSync(join(bin, 'apt-get'), `#!/bin/sh\necho "$*" >> ${join(bin, 'calls')}\nexit 0\n`);
    for (const name of ['bwrap', 'apt-get']) chmodSync(join(bin, name), 0o755);
    const setup = spawnSync(process.execPath, [join(root, 'scripts/setup.mjs')], { cwd: bin, env: { PATH: bin }, encoding: 'utf8' });
    assert.is(setup.status, 0, setup.stderr);
    if (process.getuid?.() === 0) {
      assert.equal(readFileSync(join(bin, 'calls'), 'utf8').trim().split('\n'), ['update -qq', 'install -y -qq --no-install-recommends chromium']);
      assert.match(setup.stderr, 'setup: installing chromium with apt-get --no-install-recommends');
    } else {
      assert.not.ok(existsSync(join(bin, 'calls')), 'apt-get was not run');
      assert.match(setup.stderr, 'Install with: sudo apt-get install --no-install-recommends chromium');
    }
    assert.not.match(setup.stderr, 'bubblewrap');
  } finally {
    rmSync(bin, { recursive: true, force: true });
  }
});

test.run();
