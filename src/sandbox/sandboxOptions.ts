import { UserError } from '../errors.ts';
import { checkEnv, checkLimits, type ResourceLimits, type SandboxMode } from './runSandboxed.ts';

/** How commands run: a mode, or settings. `mode: 'off'` runs commands unconfined on the host and is unsafe. */
export type SandboxOptions =
  | SandboxMode
  | {
      mode?: SandboxMode;
      /** Let commands reach the network (bubblewrap `--share-net`); false by default. */
      network?: boolean;
      /** Default per-command timeout; 120 s. */
      timeoutMs?: number;
      /** Largest timeout the model may ask for; 10 minutes. */
      maxTimeoutMs?: number;
      /** stdout and stderr together; 64 KiB. */
      maxOutputBytes?: number;
      /** Per-command limits (processes, memory, CPU, file size, /tmp size, workspace growth); see `ResourceLimits`. */
      limits?: ResourceLimits;
      /** Variables granted to commands on top of PATH, HOME, LANG and TERM; passed to bubblewrap through a file descriptor, never on a command line. */
      env?: Readonly<Record<string, string>>;
      bwrapPath?: string;
    };

/** Sandbox options with every default filled in. */
export interface SandboxSettings {
  mode: SandboxMode;
  network: boolean;
  timeoutMs: number;
  maxTimeoutMs: number;
  maxOutputBytes: number;
  limits: ResourceLimits;
  env: Readonly<Record<string, string>>;
  bwrapPath: string | undefined;
}

const positive = (value: number | undefined, fallback: number, name: string): number => {
  const n = value ?? fallback;
  if (!Number.isInteger(n) || n <= 0) throw new UserError(`sandbox.${name} must be a positive integer; found ${String(value)}.`);
  return n;
};

/** Checks sandbox options when the tools are defined, before any command runs. */
export function normaliseSandboxOptions(options: SandboxOptions | undefined): SandboxSettings {
  const o = typeof options === 'string' ? { mode: options } : (options ?? {});
  const mode = o.mode ?? 'required';
  if (mode !== 'required' && mode !== 'off') {
    throw new UserError(`sandbox mode must be 'required' or 'off' (unsafe: no confinement); found ${JSON.stringify(mode)}.`);
  }
  const timeoutMs = positive(o.timeoutMs, 120_000, 'timeoutMs');
  const maxTimeoutMs = positive(o.maxTimeoutMs, Math.max(600_000, timeoutMs), 'maxTimeoutMs');
  checkEnv(o.env);
  checkLimits(o.limits);
  return {
    mode,
    network: o.network ?? false,
    timeoutMs,
    maxTimeoutMs,
    maxOutputBytes: positive(o.maxOutputBytes, 64 * 1024, 'maxOutputBytes'),
    limits: { ...o.limits },
    env: { ...o.env },
    bwrapPath: o.bwrapPath,
  };
}
