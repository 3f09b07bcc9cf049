// Installs the system packages the tests use when they are missing and we may install them
// (root with apt-get): bubblewrap for sandboxed shell commands, chromium for the inspector's browser tests. Prints what it did or why not, and
// never fails, so the tests run either way (the ones that need bubblewrap say so).
import { execFileSync, spawnSync } from 'node:child_process';

const has = (command) => spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
const missing = [['bwrap', 'bubblewrap'], ['chromium', 'chromium']].filter(([command]) => !has(command)).map(([, pkg]) => pkg);
const without =
  'test/sandbox.test.ts will skip its bubblewrap tests (checking the refusal path only), the filesystem agent test in test/examples.test.ts will fail, and test/inspector.test.ts will skip its browser tests';

if (missing.length > 0) {
  if (process.getuid?.() === 0 && has('apt-get')) {
    console.error(`setup: installing ${missing.join(', ')} with apt-get`);
    try {
      execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit' });
      execFileSync('apt-get', ['install', '-y', '-qq', ...missing], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    } catch (error) {
      console.error(`setup: warning: could not install ${missing.join(', ')} (${error.message.split('\n')[0]}); ${without}. The other tests run.`);
    }
  } else {
    console.error(`setup: ${missing.join(', ')} not installed; ${without}. Install with: sudo apt-get install ${missing.join(' ')}`);
  }
}
