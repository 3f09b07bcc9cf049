import { spawn } from 'node:child_process';
import type { Writable } from 'node:stream';
import { ToolError } from '../errors.ts';
import { registerResource } from '../openResources.ts';

/** How one command ended, with what it printed. */
export interface GroupResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  aborted: boolean;
  /** Why a limit watched while the command ran stopped it, when one did. */
  stoppedBy?: string;
  truncated: boolean;
  durationMs: number;
}

export interface GroupSettings {
  env: Record<string, string>;
  cwd: string;
  timeoutMs: number;
  maxOutputBytes: number;
  killGraceMs?: number;
  signal?: AbortSignal;
  /** Written NUL-separated to the child's fd 3 (bubblewrap's `--args 3`), then closed. */
  fdArgs?: readonly string[];
  /** Started once the child runs; calls `stop(why)` to kill the group; returns what ends the watch. */
  watch?: (stop: (why: string) => void) => () => void;
}

/**
 * Runs `file` in a process group of its own, killed as a whole on timeout, abort or a watched limit;
 * whatever the command leaves running in its group is killed when it exits; output is capped.
 */
export function spawnGroup(file: string, args: readonly string[], s: GroupSettings): Promise<GroupResult> {
  const started = performance.now();
  const grace = s.killGraceMs ?? 2_000;
  return new Promise((resolve, reject) => {
    if (s.signal?.aborted) {
      reject(new ToolError('The command was not started: the call was cancelled.'));
      return;
    }
    const child = spawn(file, args, {
      cwd: s.cwd,
      env: s.env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe', ...(s.fdArgs ? (['pipe'] as const) : [])],
    });
    if (s.fdArgs) {
      const fd3 = child.stdio[3] as Writable;
      fd3.on('error', () => {});
      fd3.end(s.fdArgs.map((arg) => `${arg}\0`).join(''));
    }
    const out = { stdout: [] as Buffer[], stderr: [] as Buffer[] };
    let kept = 0;
    let dropped = 0;
    let timedOut = false;
    let aborted = false;
    let stoppedBy: string | undefined;
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
    child.stdout!.on('data', collect('stdout'));
    child.stderr!.on('data', collect('stderr'));
    const timer = setTimeout(() => {
      timedOut = true;
      stop();
    }, s.timeoutMs);
    const onAbort = (): void => {
      aborted = true;
      stop();
    };
    s.signal?.addEventListener('abort', onAbort, { once: true });
    const endWatch = s.watch?.((why) => {
      stoppedBy ??= why;
      // A limit that is passed gets no grace: every moment more lets the command go further past it.
      killGroup('SIGKILL');
    });
    let exitCode: number | null = null;
    let exitSignal: NodeJS.Signals | null = null;
    child.on('exit', (code, signal) => {
      exited = true;
      exitCode = code;
      exitSignal = signal;
      endWatch?.();
      // Whatever the command left running in its group goes with it; a process that left the group
      // and still holds the pipes open cannot delay the result past the grace period.
      killGroup('SIGKILL');
      drainTimer = setTimeout(() => {
        child.stdout!.destroy();
        child.stderr!.destroy();
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
      endWatch?.();
      s.signal?.removeEventListener('abort', onAbort);
    };
    child.on('close', () => {
      cleanup();
      if (!exited) return;
      const note = dropped > 0 ? `\n[output cut: ${dropped} more bytes were dropped; the limit is ${s.maxOutputBytes} bytes]` : '';
      const result: GroupResult = {
        exitCode,
        signal: exitSignal,
        stdout: Buffer.concat(out.stdout).toString('utf8') + note,
        stderr: Buffer.concat(out.stderr).toString('utf8'),
        timedOut,
        aborted,
        truncated: dropped > 0,
        durationMs: performance.now() - started,
      };
      if (stoppedBy !== undefined) result.stoppedBy = stoppedBy;
      resolve(result);
    });
  });
}
