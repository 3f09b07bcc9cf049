import { CancelledError, UserError } from '../errors.ts';

/**
 * Maps items through `fn` with at most `limit` calls in flight, resolving to results in item order;
 * rejects at the first failure or when `signal` aborts, and starts no new call after that.
 * @example
 * const results = await mapWithConcurrency(calls, 4, (call) => runTool(call.tool, call.args, call.options));
 */
export function mapWithConcurrency<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
  signal?: AbortSignal,
): Promise<R[]> {
  if (!Number.isInteger(limit) || limit < 1) {
    throw new UserError(`mapWithConcurrency: limit must be a positive integer; found ${String(limit)}.`);
  }
  const results = new Array<R>(items.length);
  if (signal?.aborted) return Promise.reject(cancelled(signal));
  if (items.length === 0) return Promise.resolve(results);
  return new Promise<R[]>((resolve, reject) => {
    let next = 0;
    let done = 0;
    let stopped = false;
    const stop = (error: unknown): void => {
      if (stopped) return;
      stopped = true;
      signal?.removeEventListener('abort', onAbort);
      reject(error);
    };
    const onAbort = (): void => stop(cancelled(signal));
    signal?.addEventListener('abort', onAbort, { once: true });
    const launch = (): void => {
      if (stopped || next >= items.length) return;
      const index = next++;
      let pending: Promise<R>;
      try {
        pending = Promise.resolve(fn(items[index] as T, index));
      } catch (error) {
        stop(error);
        return;
      }
      pending.then(
        (value) => {
          results[index] = value;
          done += 1;
          if (done === items.length && !stopped) {
            stopped = true;
            signal?.removeEventListener('abort', onAbort);
            resolve(results);
          } else launch();
        },
        (error: unknown) => stop(error),
      );
    };
    for (let i = 0; i < Math.min(limit, items.length); i++) launch();
  });
}

function cancelled(signal: AbortSignal | undefined): CancelledError {
  const reason: unknown = signal?.reason;
  const detail = reason instanceof Error ? `: ${reason.message}` : '';
  return new CancelledError(`mapWithConcurrency was cancelled before all items finished${detail}.`, { cause: reason });
}
