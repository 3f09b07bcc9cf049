// Installs the system packages the tests use when they are missing and we may install them
// (root with apt-get): bubblewrap for sandboxed shell commands. Prints what it did or why not.
import { execFileSync, spawnSync } from 'node:child_process';

const has = (command) => spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
const missing = [['bwrap', 'bubblewrap']].filter(([command]) => !has(command)).map(([, pkg]) => pkg);

if (missing.length > 0) {
  if (process.getuid?.() === 0 && has('apt-get')) {
    console.error(`setup: installing ${missing.join(', ')} with apt-get`);
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit' });
    execFileSync('apt-get', ['install', '-y', '-qq', ...missing], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  } else {
    console.error(`setup: ${missing.join(', ')} not installed; sandbox tests will check the refusal path only. Install with: sudo apt-get install ${missing.join(' ')}`);
  }
}
