import { statfs } from 'node:fs/promises';

/** How often the workspace's file system is measured while a command runs. */
export const GROWTH_CHECK_MS = 100;

async function usedBytes(path: string): Promise<number> {
  const s = await statfs(path);
  return (s.blocks - s.bfree) * s.bsize;
}

/**
 * Measures how full the workspace's file system is now (throwing when it cannot be measured), and
 * returns a watch for `spawnGroup` that stops the command once that file system has grown by more
 * than `limitBytes`. It sees growth, not bytes written: what the command deletes makes room, and
 * what other processes write to the same file system counts too.
 */
export async function workspaceGrowthWatch(path: string, limitBytes: number): Promise<(stop: (why: string) => void) => () => void> {
  const before = await usedBytes(path);
  return (stop) => {
    let measuring = false;
    const timer = setInterval(() => {
      if (measuring) return;
      measuring = true;
      usedBytes(path)
        .then((now) => {
          if (now - before > limitBytes) {
            stop(`the workspace grew by ${now - before} bytes while the command ran, past the limit of ${limitBytes} bytes (sandbox limits.workspaceBytes)`);
          }
        })
        .catch((error: NodeJS.ErrnoException) => stop(`the workspace's file system could not be measured (${error.code ?? error.message}), so its growth limit could not be held`))
        .finally(() => (measuring = false));
    }, GROWTH_CHECK_MS);
    return () => clearInterval(timer);
  };
}
