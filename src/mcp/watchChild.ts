const POLL_MS = 25;
const GRACE_MS = 5_000;

const live = new Set<number>();
let exitHookInstalled = false;

/** True while a process with this id exists (a zombie not yet reaped by Node counts as alive). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function killQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

async function waitForExit(pid: number, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (isAlive(pid)) {
    if (Date.now() >= until) return false;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  return true;
}

/**
 * Makes sure a server process does not outlive this one (it is killed when this process exits) and
 * returns a function that waits for it to exit after the transport closed it, killing it if it lingers.
 */
export function watchChild(pid: number): () => Promise<void> {
  live.add(pid);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const child of live) killQuietly(child, 'SIGKILL');
    });
  }
  return async () => {
    if (!(await waitForExit(pid, GRACE_MS))) {
      killQuietly(pid, 'SIGKILL');
      await waitForExit(pid, GRACE_MS);
    }
    live.delete(pid);
  };
}
