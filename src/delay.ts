/** Wait `ms`, or less if `signal` aborts (also when it already has): resolves true when the full time passed. */
export function delay(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  if (ms <= 0) return Promise.resolve(true);
  return new Promise((resolve) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Node fires a timer at once when asked to wait longer than this (about 24.8 days). */
export const MAX_TIMER_MS = 2_147_483_647;

/**
 * Calls `fn` at the epoch time `at` (at once if it has passed), however far off it is: a wait longer
 * than a timer can hold is made of shorter ones.
 */
export function timerAt(at: number, fn: () => void): { cancel(): void } {
  let timer: NodeJS.Timeout;
  const arm = (): void => {
    const left = at - Date.now();
    timer = left > MAX_TIMER_MS ? setTimeout(arm, MAX_TIMER_MS) : setTimeout(fn, Math.max(0, left));
  };
  arm();
  return { cancel: () => clearTimeout(timer) };
}
