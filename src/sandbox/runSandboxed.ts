import { accessSync, constants } from 'node:fs';
import { ToolError, UserError } from '../errors.ts';
import { DEFAULT_BWRAP_PATH, probeSandbox } from './probeSandbox.ts';
import { SETUP_FAILED_EXIT, SETUP_FAILED_PREFIX, sandboxLaunch } from './sandboxLaunch.ts';
import { spawnGroup, type GroupResult } from './spawnGroup.ts';
import { workspaceGrowthWatch } from './workspaceGrowthWatch.ts';

/** 'required' refuses to run when bubblewrap cannot start; 'off' runs on the host, unconfined (unsafe). */
export type SandboxMode = 'required' | 'off';

/** Per-command limits; 0 leaves one unset. */
export interface ResourceLimits {
  /** CPU time of each process (RLIMIT_CPU). */
  cpuSeconds?: number;
  /** Largest file a process may write (RLIMIT_FSIZE). */
  fileSizeBytes?: number;
  /** Processes and threads of the command together (RLIMIT_NPROC, counted in the sandbox's user namespace). */
  processes?: number;
  /** Virtual memory of each process (RLIMIT_AS). */
  addressSpaceBytes?: number;
  /** Size of the private /tmp, and of /dev/shm, each (a sized tmpfs, held in memory). */
  tmpBytes?: number;
  /** How much the workspace's file system may grow while the command runs (measured every 100 ms). */
  workspaceBytes?: number;
}

export interface RunSandboxedOptions {
  command: string;
  /** Absolute folder the command starts in; must be the workspace root or inside it. */
  cwd: string;
  workspaceRoot: string;
  timeoutMs?: number;
  maxOutputBytes?: number;
  /** Extra variables granted to the command on top of PATH, HOME, LANG and TERM; never put on a command line. */
  env?: Readonly<Record<string, string>>;
  network?: boolean;
  signal?: AbortSignal;
  sandbox?: SandboxMode;
  limits?: ResourceLimits;
  /** Time between SIGTERM and SIGKILL for the process group. */
  killGraceMs?: number;
  bwrapPath?: string;
  /** Where prlimit (util-linux) is; the command is refused when it is missing. */
  prlimitPath?: string;
}

export interface SandboxResult extends GroupResult {
  sandboxed: boolean;
}

/** The limits applied when none are given. */
export const DEFAULT_LIMITS: Readonly<Required<ResourceLimits>> = {
  cpuSeconds: 60,
  fileSizeBytes: 256 * 1024 * 1024,
  processes: 256,
  addressSpaceBytes: 4 * 1024 * 1024 * 1024,
  tmpBytes: 256 * 1024 * 1024,
  workspaceBytes: 1024 * 1024 * 1024,
};
const DEFAULT_PRLIMIT = '/usr/bin/prlimit';
const SAFE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const SETUP_TOOLS = /^(bwrap|prlimit|unshare|setpriv): /;

/**
 * Runs a shell command in a bubblewrap sandbox (or unconfined when `sandbox: 'off'`), in its own process
 * group that is killed as a whole on timeout, abort or a passed limit, with only the granted environment
 * and capped output. Every limit is applied or the command is not run.
 * @example
 * const result = await runSandboxed({ command: 'npm test', cwd: root, workspaceRoot: root, timeoutMs: 60_000 });
 */
export async function runSandboxed(options: RunSandboxedOptions): Promise<SandboxResult> {
  const mode = options.sandbox ?? 'required';
  if (mode !== 'required' && mode !== 'off') {
    throw new UserError(`runSandboxed: sandbox must be 'required' or 'off'; found ${JSON.stringify(mode)}.`);
  }
  const limits = checkLimits(options.limits);
  const timeoutMs = options.timeoutMs ?? 120_000;
  const maxOutputBytes = options.maxOutputBytes ?? 64 * 1024;
  const env = buildEnv(options.workspaceRoot, options.env);
  const sandboxed = mode === 'required';
  const shell = withLimits(['/bin/sh', '-c', options.command], limits, sandboxed, options.prlimitPath ?? DEFAULT_PRLIMIT);
  let watch: Awaited<ReturnType<typeof workspaceGrowthWatch>> | undefined;
  if (limits.workspaceBytes > 0) {
    watch = await workspaceGrowthWatch(options.workspaceRoot, limits.workspaceBytes).catch((error: NodeJS.ErrnoException) => {
      throw new ToolError(
        `The command was not run: the workspace's growth limit (limits.workspaceBytes) needs to measure its file system, which failed (${error.code ?? error.message}).`,
      );
    });
  }
  const common = { timeoutMs, maxOutputBytes, ...(watch ? { watch } : {}), ...pick(options, 'signal', 'killGraceMs') };
  if (!sandboxed) {
    const [file, ...args] = shell as [string, ...string[]];
    return { ...(await spawnGroup(file, args, { ...common, env, cwd: options.cwd })), sandboxed: false };
  }
  const bwrapPath = options.bwrapPath ?? DEFAULT_BWRAP_PATH;
  const probe = await probeSandbox({ bwrapPath });
  if (!probe.available) {
    throw new ToolError(
      `The command was not run: the required sandbox could not start (${probe.reason}) ` +
        "To run commands without a sandbox, the user must opt out explicitly with sandbox: 'off' in the " +
        'filesystemTools options, which is unsafe: commands then run unconfined on the host.',
    );
  }
  const launch = sandboxLaunch({
    bwrapPath,
    workspaceRoot: options.workspaceRoot,
    layout: { cwd: options.cwd, network: options.network ?? false, tmpBytes: limits.tmpBytes, env },
    command: shell,
  });
  const result = await spawnGroup(launch.file, launch.args, { ...common, env: { PATH: SAFE_PATH }, cwd: '/', fdArgs: launch.bwrapFdArgs });
  const setupFailure = result.stderr.startsWith(SETUP_FAILED_PREFIX)
    ? result.exitCode === SETUP_FAILED_EXIT && result.stderr.slice(SETUP_FAILED_PREFIX.length)
    : result.exitCode !== 0 && SETUP_TOOLS.test(result.stderr) && result.stdout === '' && result.stderr;
  if (setupFailure) {
    throw new ToolError(`The command was not run: the sandbox could not be set up, so its limits could not be applied: ${setupFailure.trim().split('\n')[0]}`);
  }
  return { ...result, sandboxed: true };
}

/** Fills in the default limits and checks the given ones: whole numbers, 0 to leave one unset. */
export function checkLimits(given: ResourceLimits | undefined): Required<ResourceLimits> {
  const limits = { ...DEFAULT_LIMITS };
  for (const [key, value] of Object.entries(given ?? {})) {
    if (!(key in DEFAULT_LIMITS)) {
      throw new UserError(`sandbox limits: unknown limit "${key}"; the limits are ${Object.keys(DEFAULT_LIMITS).join(', ')}.`);
    }
    if (value === undefined) continue;
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new UserError(`sandbox limits.${key} must be a whole number, 0 to leave it unset; found ${String(value)}.`);
    }
    limits[key as keyof ResourceLimits] = value;
  }
  return limits;
}

/** Checks the variables granted to commands: names a shell accepts, values without NUL bytes. */
export function checkEnv(env: Readonly<Record<string, string>> | undefined): void {
  for (const [key, value] of Object.entries(env ?? {})) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) throw new UserError(`sandbox env: "${key}" is not a valid variable name.`);
    if (typeof value !== 'string' || value.includes('\0')) throw new UserError(`sandbox env: the value of ${key} must be a string without NUL bytes.`);
  }
}

function buildEnv(workspaceRoot: string, extra: Readonly<Record<string, string>> | undefined): Record<string, string> {
  checkEnv(extra);
  return {
    PATH: SAFE_PATH,
    HOME: workspaceRoot,
    LANG: process.env.LANG ?? 'C.UTF-8',
    TERM: 'dumb',
    ...extra,
  };
}

function withLimits(command: string[], limits: Required<ResourceLimits>, countProcesses: boolean, prlimit: string): string[] {
  const flags: string[] = [];
  if (limits.cpuSeconds > 0) flags.push(`--cpu=${limits.cpuSeconds}`);
  if (limits.fileSizeBytes > 0) flags.push(`--fsize=${limits.fileSizeBytes}`);
  // Outside a user namespace RLIMIT_NPROC counts every process of the user on the host, not the command's.
  if (countProcesses && limits.processes > 0) flags.push(`--nproc=${limits.processes}`);
  if (limits.addressSpaceBytes > 0) flags.push(`--as=${limits.addressSpaceBytes}`);
  if (flags.length === 0) return command;
  try {
    accessSync(prlimit, constants.X_OK);
  } catch {
    throw new ToolError(
      `The command was not run: its limits on CPU time, file size, processes and memory are applied with prlimit, which is not at ${prlimit} ` +
        '(install util-linux), and a command is never run without its limits.',
    );
  }
  return [prlimit, ...flags, '--', ...command];
}

function pick<T extends object, K extends keyof T>(from: T, ...keys: K[]): Partial<Pick<T, K>> {
  const picked: Partial<Pick<T, K>> = {};
  for (const key of keys) if (from[key] !== undefined) picked[key] = from[key];
  return picked;
}
