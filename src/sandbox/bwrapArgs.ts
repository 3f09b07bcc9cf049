import { lstatSync, readlinkSync } from 'node:fs';

const READ_ONLY_DIRS = ['/usr', '/etc'];
const MAYBE_LINKED_DIRS = ['/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32'];

/** What the sandbox is made of; `workspace.source` is where bubblewrap finds the folder, `target` where the command sees it. */
export interface BwrapLayout {
  workspace: { source: string; target: string } | null;
  cwd: string;
  network: boolean;
  /** Size of the private /tmp and of /dev/shm, each; 0 leaves them unsized. */
  tmpBytes: number;
  env: Readonly<Record<string, string>>;
}

/**
 * Builds the bubblewrap arguments (everything before `--`), to be handed over through `--args FD`
 * so that no environment value shows on a command line: read-only system folders, the workspace
 * read-write, fresh /proc and /dev, sized tmpfs at /tmp and /dev/shm, a read-only root and /dev,
 * every namespace unshared and all capabilities dropped.
 */
export function bwrapArgs(layout: BwrapLayout): string[] {
  // No --new-session: commands are spawned in a session of their own already (without a terminal), and
  // staying in that process group lets a timeout kill a sandbox still being set up, before bubblewrap
  // has armed --die-with-parent in its child.
  const args = ['--unshare-all', '--die-with-parent', '--cap-drop', 'ALL'];
  if (layout.network) args.push('--share-net');
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
  const sized = (dir: string): string[] => [...(layout.tmpBytes > 0 ? ['--size', String(layout.tmpBytes)] : []), '--tmpfs', dir];
  args.push('--proc', '/proc', '--dev', '/dev', ...sized('/tmp'), ...sized('/dev/shm'));
  if (layout.workspace !== null) args.push('--bind', layout.workspace.source, layout.workspace.target);
  // The root and /dev are tmpfs that bubblewrap made: left writable, they would take unbounded memory.
  args.push('--remount-ro', '/dev', '--remount-ro', '/', '--chdir', layout.cwd, '--clearenv');
  for (const [key, value] of Object.entries(layout.env)) args.push('--setenv', key, value);
  return args;
}
