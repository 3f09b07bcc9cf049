// Installs the system packages the tests use when they are missing and we may install them
// (root with apt-get): bubblewrap for sandboxed shell commands, chromium for the inspector's browser
// tests. Only the missing ones, and without their recommended packages (chromium's recommendations
// bring a print server and mDNS daemons; headless chromium needs neither). Prints what it did or why
// not, and never fails, so the tests run either way (the ones that need bubblewrap say so).
import { execFileSync, spawnSync } from 'node:child_process';

const has = (command) => spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
const missing = [
  {
    command: 'bwrap',
    name: 'bubblewrap',
    without: 'test/sandbox.test.ts will skip its bubblewrap tests (checking the refusal path only), and the filesystem agent test in test/examples.test.ts will fail',
  },
  { command: 'chromium', name: 'chromium', without: 'test/inspector.test.ts and test/startInspector.test.ts will skip their browser tests' },
].filter(({ command }) => !has(command));
const names = missing.map(({ name }) => name);
const without = missing.map((pkg) => pkg.without).join('; ');

if (missing.length > 0) {
  if (process.getuid?.() === 0 && has('apt-get')) {
    console.error(`setup: installing ${names.join(', ')} with apt-get --no-install-recommends`);
    try {
      execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit' });
      execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...names], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    } catch (error) {
      console.error(`setup: warning: could not install ${names.join(', ')} (${error.message.split('\n')[0]}); ${without}. The other tests run.`);
    }
  } else {
    console.error(`setup: ${names.join(', ')} not installed; ${without}. Install with: sudo apt-get install --no-install-recommends ${names.join(' ')}`);
  }
}
