import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { ToolError, UserError } from '../errors.ts';
import { registerResource } from '../openResources.ts';
import { bwrapArgs } from './bwrapArgs.ts';
import { DEFAULT_BWRAP_PATH, probeSandbox } from './probeSandbox.ts';

/** 'required' refuses to run when bubblewrap cannot start; 'off' runs on the host, unconfined (unsafe). */
export type SandboxMode = 'required' | 'off';

/** Per-command resource limits applied with prlimit; 0 leaves one unset. */
export interface ResourceLimits {
  cpuSeconds?: number;
  fileSizeBytes?: number;
  processes?: number;
  addressSpaceBytes?: number;
}

export interface RunSandboxedOptions {
  command: string;
  /** Absolute folder the command starts in; must be the workspace root or inside it. */
  cwd: string;
  workspaceRoot: string;
  timeoutMs?: number;
  maxOutputBytes?: number;
  /** Extra variables granted to the command on top of PATH, HOME, LANG and TERM. */
  env?: Readonly<Record<string, string>>;
  network?: boolean;
  signal?: AbortSignal;
  sandbox?: SandboxMode;
  limits?: ResourceLimits;
  /** Time between SIGTERM and SIGKILL for the process group. */
  killGraceMs?: number;
  bwrapPath?: string;
}

export interface SandboxResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  aborted: boolean;
  truncated: boolean;
  durationMs: number;
  sandboxed: boolean;
}

const DEFAULT_LIMITS: Required<ResourceLimits> = {
  cpuSeconds: 60,
  fileSizeBytes: 256 * 1024 * 1024,
  processes: 256,
  addressSpaceBytes: 4 * 1024 * 1024 * 1024,
};
const PRLIMIT = '/usr/bin/prlimit';
const SAFE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * Runs a shell command in a bubblewrap sandbox (or unconfined when `sandbox: 'off'`), in its own process
 * group that is killed as a whole on timeout or abort, with a cleared environment and capped output.
 * @example
 * const result = await runSandboxed({ command: 'npm test', cwd: root, workspaceRoot: root, timeoutMs: 60_000 });
 */
export async function runSandboxed(options: RunSandboxedOptions): Promise<SandboxResult> {
  const mode = options.sandbox ?? 'required';
  if (mode !== 'required' && mode !== 'off') {
    throw new UserError(`runSandboxed: sandbox must be 'required' or 'off'; found ${JSON.stringify(mode)}.`);
  }
  const timeoutMs = options.timeoutMs ?? 120_000;
  const maxOutputBytes = options.maxOutputBytes ?? 64 * 1024;
  const env = buildEnv(options.workspaceRoot, options.env);
  const shell = withLimits(['/bin/sh', '-c', options.command], { ...DEFAULT_LIMITS, ...options.limits }, mode === 'required');
  let file: string;
  let args: string[];
  if (mode === 'required') {
    const bwrapPath = options.bwrapPath ?? DEFAULT_BWRAP_PATH;
    const probe = await probeSandbox({ bwrapPath });
    if (!probe.available) {
      throw new ToolError(
        `The command was not run: the required sandbox could not start (${probe.reason}) ` +
          "To run commands without a sandbox, the user must opt out explicitly with sandbox: 'off' in the " +
          'filesystemTools options, which is unsafe: commands then run unconfined on the host.',
      );
    }
    file = bwrapPath;
    args = [
      ...bwrapArgs({ workspaceRoot: options.workspaceRoot, cwd: options.cwd, network: options.network ?? false, env }),
      '--',
      ...shell,
    ];
  } else {
    [file, ...args] = shell as [string, ...string[]];
  }
  return spawnGroup(file, args, { ...options, env, timeoutMs, maxOutputBytes, sandboxed: mode === 'required' });
}

function buildEnv(workspaceRoot: string, extra: Readonly<Record<string, string>> | undefined): Record<string, string> {
  return {
    PATH: SAFE_PATH,
    HOME: workspaceRoot,
    LANG: process.env.LANG ?? 'C.UTF-8',
    TERM: 'dumb',
    ...extra,
  };
}

function withLimits(command: string[], limits: Required<ResourceLimits>, countProcesses: boolean): string[] {
  if (!existsSync(PRLIMIT)) return command;
  const flags: string[] = [];
  if (limits.cpuSeconds > 0) flags.push(`--cpu=${limits.cpuSeconds}`);
  if (limits.fileSizeBytes > 0) flags.push(`--fsize=${limits.fileSizeBytes}`);
  // Outside a user namespace RLIMIT_NPROC counts every process of the user on the host, not the command's.
  if (countProcesses && limits.processes > 0) flags.push(`--nproc=${limits.processes}`);
  if (limits.addressSpaceBytes > 0) flags.push(`--as=${limits.addressSpaceBytes}`);
  return flags.length > 0 ? [PRLIMIT, ...flags, '--', ...command] : command;
}

interface SpawnSettings {
  env: Record<string, string>;
  cwd: string;
  timeoutMs: number;
  maxOutputBytes: number;
  killGraceMs?: number;
  signal?: AbortSignal;
  sandboxed: boolean;
}

function spawnGroup(file: string, args: string[], s: SpawnSettings): Promise<SandboxResult> {
  const started = performance.now();
  const grace = s.killGraceMs ?? 2_000;
  return new Promise((resolve, reject) => {
    if (s.signal?.aborted) {
      reject(new ToolError('The command was not started: the call was cancelled.'));
      return;
    }
    const child = spawn(file, args, {
      cwd: s.sandboxed ? '/' : s.cwd,
      env: s.env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out = { stdout: [] as Buffer[], stderr: [] as Buffer[] };
    let kept = 0;
    let dropped = 0;
    let timedOut = false;
    let aborted = false;
    let exited = false;
    let killTimer: NodeJS.Timeout | undefined;
    let drainTimer: NodeJS.Timeout | undefined;
    const killGroup = (signal: NodeJS.Signals): void => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, signal);
      } catch {
        // The group is already gone.
      }
    };
    const stop = (): void => {
      killGroup('SIGTERM');
      killTimer ??= setTimeout(() => killGroup('SIGKILL'), grace);
    };
    const collect = (which: 'stdout' | 'stderr') => (chunk: Buffer) => {
      const room = s.maxOutputBytes - kept;
      if (room >= chunk.length) {
        out[which].push(chunk);
        kept += chunk.length;
        return;
      }
      if (room > 0) out[which].push(chunk.subarray(0, room));
      kept += Math.max(room, 0);
      dropped += chunk.length - Math.max(room, 0);
    };
    // Until it has exited, the command is an open resource of this process: it must not outlive it.
    const closed = new Promise<void>((settle) => child.once('close', () => settle()));
    const release = registerResource({
      label: `sandboxed command (pid ${child.pid})`,
      close: () => {
        stop();
        return closed;
      },
      kill: () => killGroup('SIGKILL'),
    });
    child.stdout.on('data', collect('stdout'));
    child.stderr.on('data', collect('stderr'));
    const timer = setTimeout(() => {
      timedOut = true;
      stop();
    }, s.timeoutMs);
    const onAbort = (): void => {
      aborted = true;
      stop();
    };
    s.signal?.addEventListener('abort', onAbort, { once: true });
    let exitCode: number | null = null;
    let exitSignal: NodeJS.Signals | null = null;
    child.on('exit', (code, signal) => {
      exited = true;
      exitCode = code;
      exitSignal = signal;
      // Whatever the command left running in its group goes with it; a process that left the group
      // and still holds the pipes open cannot delay the result past the grace period.
      killGroup('SIGKILL');
      drainTimer = setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
      }, grace);
    });
    child.on('error', (error) => {
      cleanup();
      reject(new ToolError(`The command could not be started (${file}): ${error.message}`, { cause: error }));
    });
    const cleanup = (): void => {
      release();
      clearTimeout(timer);
      if (killTimer) clearTimeout(killTimer);
      if (drainTimer) clearTimeout(drainTimer);
      s.signal?.removeEventListener('abort', onAbort);
    };
    child.on('close', () => {
      cleanup();
      if (!exited) return;
      const note = dropped > 0 ? `\n[output cut: ${dropped} more bytes were dropped; the limit is ${s.maxOutputBytes} bytes]` : '';
      const stdout = Buffer.concat(out.stdout).toString('utf8');
      const stderr = Buffer.concat(out.stderr).toString('utf8');
      resolve({
        exitCode,
        signal: exitSignal,
        stdout: stdout + note,
        stderr,
        timedOut,
        aborted,
        truncated: dropped > 0,
        durationMs: performance.now() - started,
        sandboxed: s.sandboxed,
      });
    });
  });
}
