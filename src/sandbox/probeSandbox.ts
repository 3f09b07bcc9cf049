import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { bwrapArgs } from './bwrapArgs.ts';
import { UNPRIVILEGED_ID } from './sandboxLaunch.ts';

/** Whether commands can run in an OS sandbox here, and if not, why. */
export interface SandboxProbe {
  available: boolean;
  kind: 'bubblewrap' | 'none';
  reason?: string;
}

/** Where bubblewrap is looked for unless a test or a caller says otherwise. */
export const DEFAULT_BWRAP_PATH = '/usr/bin/bwrap';
const PROBE_TIMEOUT_MS = 10_000;
const cache = new Map<string, Promise<SandboxProbe>>();

/**
 * Starts `bwrap ... true` once per bubblewrap path (cached) to learn whether the sandbox really works here,
 * as the user commands run as (nobody, when this process is root).
 * @example
 * const probe = await probeSandbox();
 * if (!probe.available) console.warn(`commands cannot be sandboxed: ${probe.reason}`);
 */
export function probeSandbox(options: { bwrapPath?: string; refresh?: boolean } = {}): Promise<SandboxProbe> {
  const bwrapPath = options.bwrapPath ?? DEFAULT_BWRAP_PATH;
  const cached = cache.get(bwrapPath);
  if (cached && !options.refresh) return cached;
  const probe = runProbe(bwrapPath);
  cache.set(bwrapPath, probe);
  return probe;
}

async function runProbe(bwrapPath: string): Promise<SandboxProbe> {
  if (process.platform !== 'linux') {
    return { available: false, kind: 'none', reason: `bubblewrap needs Linux; this is ${process.platform}.` };
  }
  try {
    accessSync(bwrapPath, constants.X_OK);
  } catch {
    return {
      available: false,
      kind: 'none',
      reason: `bubblewrap is not installed at ${bwrapPath} (install the "bubblewrap" package).`,
    };
  }
  const args = bwrapArgs({ workspace: null, cwd: '/', network: false, tmpBytes: 1024 * 1024, env: { PATH: '/usr/bin:/bin' } });
  // Root runs commands as an unprivileged user (see sandboxLaunch), so that is whom the probe runs as.
  const as = process.getuid?.() === 0 ? { uid: UNPRIVILEGED_ID, gid: UNPRIVILEGED_ID } : {};
  return new Promise((resolve) => {
    execFile(bwrapPath, [...args, '--', '/bin/sh', '-c', 'true'], { timeout: PROBE_TIMEOUT_MS, env: {}, cwd: '/', ...as }, (error, _stdout, stderr) => {
      if (!error) return resolve({ available: true, kind: 'bubblewrap' });
      const detail = stderr.trim() || error.message;
      const who = 'uid' in as ? ` (run as nobody: under root, commands run as an unprivileged user, who needs unprivileged user namespaces)` : '';
      const hint = /namespace|permission|operation not permitted/i.test(detail)
        ? ' User namespaces seem unavailable (common inside containers): allow them (kernel.unprivileged_userns_clone=1, ' +
          'or run the container with a seccomp/AppArmor profile that permits unshare).'
        : '';
      resolve({ available: false, kind: 'none', reason: `${bwrapPath} could not start a sandbox${who}: ${detail}.${hint}` });
    });
  });
}
