import { lstatSync, readlinkSync } from 'node:fs';

const READ_ONLY_DIRS = ['/usr', '/etc'];
const MAYBE_LINKED_DIRS = ['/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32'];

/**
 * Builds the bubblewrap arguments (everything before `--`): read-only system folders, the workspace
 * read-write at its own path, fresh /proc, /dev and /tmp, every namespace unshared and all capabilities dropped.
 */
export function bwrapArgs(options: {
  workspaceRoot: string | null;
  cwd: string;
  network: boolean;
  env: Readonly<Record<string, string>>;
}): string[] {
  const args = ['--unshare-all', '--die-with-parent', '--new-session', '--cap-drop', 'ALL'];
  if (options.network) args.push('--share-net');
  for (const dir of READ_ONLY_DIRS) args.push('--ro-bind', dir, dir);
  for (const dir of MAYBE_LINKED_DIRS) {
    let st;
    try {
      st = lstatSync(dir);
    } catch {
      continue;
    }
    if (st.isSymbolicLink()) args.push('--symlink', readlinkSync(dir), dir);
    else if (st.isDirectory()) args.push('--ro-bind', dir, dir);
  }
  args.push('--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp');
  if (options.workspaceRoot !== null) args.push('--bind', options.workspaceRoot, options.workspaceRoot);
  args.push('--chdir', options.cwd, '--clearenv');
  for (const [key, value] of Object.entries(options.env)) args.push('--setenv', key, value);
  return args;
}
