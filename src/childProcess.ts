const POLL_MS = 25;

/** Process groups exist where `process.kill(-pgid)` reaches them. */
const groups = process.platform !== 'win32';

/** Whether a process exists (with `group`, any process of the group it leads); a zombie not yet reaped counts. */
export function isAlive(pid: number, group = false): boolean {
  try {
    process.kill(group && groups ? -pid : pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Sends `signal` to a process, or to the whole group it leads; one already gone is no error. */
export function signalProcess(pid: number, signal: NodeJS.Signals, group = false): void {
  try {
    process.kill(group && groups ? -pid : pid, signal);
  } catch {
    // already gone
  }
}

/** Resolves true once the process (group) is gone, false if it is still there after `ms`. */
export async function waitForExit(pid: number, ms: number, group = false): Promise<boolean> {
  const until = Date.now() + ms;
  while (isAlive(pid, group)) {
    if (Date.now() >= until) return false;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  return true;
}

/**
 * Ends a process, or every process of the group it leads: SIGTERM, then SIGKILL if anything is still
 * there after `graceMs` (a process may ignore SIGTERM; none can ignore SIGKILL).
 */
export async function endProcess(pid: number, options: { group?: boolean; graceMs: number }): Promise<void> {
  const group = options.group ?? false;
  if (!isAlive(pid, group)) return;
  signalProcess(pid, 'SIGTERM', group);
  if (await waitForExit(pid, options.graceMs, group)) return;
  signalProcess(pid, 'SIGKILL', group);
  await waitForExit(pid, options.graceMs, group);
}
