import { accessSync, constants, statSync } from 'node:fs';
import { ToolError } from '../errors.ts';
import { bwrapArgs, type BwrapLayout } from './bwrapArgs.ts';

/** The unprivileged user (nobody) that root runs commands as when the workspace belongs to root. */
export const UNPRIVILEGED_ID = 65534;
/** Marks a failure of the set-up step: the command itself was never started. */
export const SETUP_FAILED_EXIT = 125;
export const SETUP_FAILED_PREFIX = 'statecraft-sandbox: ';
const TOOL_DIRS = ['/usr/bin', '/bin', '/usr/sbin', '/sbin'];
// Where the set-up step, in a mount namespace of its own, puts the workspace for bubblewrap to bind:
// a fresh tmpfs, so that no folder above the workspace has to be open to the unprivileged user.
const RELOCATED = '/tmp/statecraft-workspace';

/** How to start a sandboxed command: the program, its arguments, and bubblewrap's arguments for fd 3. */
export interface SandboxLaunch {
  file: string;
  args: string[];
  bwrapFdArgs: string[];
  uid: number;
  gid: number;
}

/**
 * Decides how a command starts in bubblewrap. A normal user runs bubblewrap directly. Root never
 * runs a command as root: it runs it as the workspace's owner, or as nobody when root owns the
 * workspace, through an idmapped mount that shows the workspace as nobody's and stores what the
 * command writes as root's. A user namespace of root's own would still be root outside it: the
 * process limit would not bind and root-only files like /etc/shadow would stay readable.
 */
export function sandboxLaunch(options: { bwrapPath: string; workspaceRoot: string; layout: Omit<BwrapLayout, 'workspace'>; command: string[] }): SandboxLaunch {
  const { bwrapPath, workspaceRoot, layout, command } = options;
  const tail = ['--args', '3', '--', ...command];
  if (process.getuid?.() !== 0) {
    return {
      file: bwrapPath,
      args: tail,
      bwrapFdArgs: bwrapArgs({ ...layout, workspace: { source: workspaceRoot, target: workspaceRoot } }),
      uid: process.getuid?.() ?? -1,
      gid: process.getgid?.() ?? -1,
    };
  }
  const { uid: owner, gid: group } = statSync(workspaceRoot);
  const uid = owner === 0 ? UNPRIVILEGED_ID : owner;
  const gid = owner === 0 ? UNPRIVILEGED_ID : group;
  const tools = Object.fromEntries(['unshare', 'perl', 'setpriv', 'mount'].map((name) => [name, findTool(name)]));
  const missing = Object.entries(tools).filter(([, path]) => path === null).map(([name]) => name);
  if (missing.length > 0) {
    throw new ToolError(
      `The command was not run: Statecraft runs as root, and commands must then run as an unprivileged user (uid ${uid}) ` +
        `for the process limit to bind and root-only files to stay unreadable; that needs ${missing.join(', ')} ` +
        '(packages util-linux, mount and perl-base), which could not be found. Install them, or run Statecraft as a normal user.',
    );
  }
  return {
    file: tools.unshare!,
    args: [
      '--mount', '--propagation', 'private', '--',
      tools.perl!, '-e', WORKSPACE_MOUNT, '--',
      String(uid), String(gid), String(owner), String(group), workspaceRoot, RELOCATED, tools.mount!, tools.unshare!,
      tools.setpriv!, `--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', '--',
      bwrapPath, ...tail,
    ],
    bwrapFdArgs: bwrapArgs({ ...layout, workspace: { source: RELOCATED, target: workspaceRoot } }),
    uid,
    gid,
  };
}

function findTool(name: string): string | null {
  for (const dir of TOOL_DIRS) {
    try {
      accessSync(`${dir}/${name}`, constants.X_OK);
      return `${dir}/${name}`;
    } catch {
      // Not in this folder.
    }
  }
  return null;
}

// Runs as root inside a private mount namespace, then execs the rest of its arguments.
// It clones the workspace mount (open_tree), idmaps it when the command's user is not the owner
// (mount_setattr with a user namespace mapping owner -> user, made by a child it then kills),
// mounts a small tmpfs on /tmp and moves the clone there (move_mount). These three system calls
// have the same numbers on every Linux architecture (428, 442, 429).
const WORKSPACE_MOUNT = String.raw`
use strict; use warnings;
sub fail { print STDERR "${SETUP_FAILED_PREFIX}$_[0]\n"; exit ${SETUP_FAILED_EXIT}; }
my ($uid, $gid, $owner, $group, $source, $target, $mount, $unshare, @command) = @ARGV;
my $tree = syscall(428, -100, $source, 1 | 0x80000);
fail("could not clone the workspace mount of $source (open_tree: $!); Linux 5.12 or later is needed") if $tree < 0;
if ($uid != $owner || $gid != $group) {
  my $holder = open(my $ready, '-|', $unshare, '--user', '--', '/bin/sh', '-c', 'echo ready; exec sleep 600')
    // fail("could not start a process for the id mapping: $!");
  my $line = <$ready>;
  fail('could not create a user namespace for the id mapping') unless defined $line && $line eq "ready\n";
  for my $map (['uid_map', "$owner $uid 1\n"], ['gid_map', "$group $gid 1\n"]) {
    open(my $fh, '>', "/proc/$holder/$map->[0]") or fail("could not open $map->[0]: $!");
    syswrite($fh, $map->[1]) or fail("could not write $map->[0]: $!");
    close $fh;
  }
  open(my $ns, '<', "/proc/$holder/ns/user") or fail("could not open the id mapping's user namespace: $!");
  my $attr = pack('QQQQ', 0x00100000, 0, 0, fileno($ns));
  my $empty = '';
  syscall(442, $tree, $empty, 0x1000, $attr, length $attr) == 0
    or fail("could not show the workspace $source as owned by uid $uid (idmapped mount: $!); its file system or this kernel does not support idmapped mounts. Give the workspace folder to an unprivileged user (chown), so that commands run as that user");
  kill 'KILL', $holder;
  close $ready;
  close $ns;
}
system($mount, '-t', 'tmpfs', '-o', 'size=64k,mode=0755', 'statecraft', '/tmp') == 0 or fail('could not mount a private tmpfs on /tmp');
mkdir $target or fail("could not create $target: $!");
my $none = '';
syscall(429, $tree, $none, -100, $target, 4) == 0 or fail("could not move the workspace mount to $target (move_mount: $!)");
exec { $command[0] } @command or fail("could not start $command[0]: $!");
`;
