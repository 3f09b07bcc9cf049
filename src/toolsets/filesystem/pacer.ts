import { setImmediate as nextTurn } from 'node:timers/promises';

/** Counts work done in a loop and says when to let the event loop run; see `pacer`. */
export interface Pacer {
  /** Adds `units` of work; true when the loop should `await turn()` before going on. */
  due(units: number): boolean;
  /** Lets timers and other runs go, then throws if the signal aborted meanwhile. */
  turn(): Promise<void>;
}

/**
 * Paces a long synchronous loop so that it yields to the event loop every `unitsPerTurn` units of
 * work (characters scanned, say) and stops once `signal` aborts: tool timeouts and other runs in
 * the process are served while a tool works.
 */
export function pacer(signal: AbortSignal | undefined, unitsPerTurn = 256 * 1024): Pacer {
  let done = 0;
  return {
    due(units) {
      done += units;
      return done >= unitsPerTurn;
    },
    async turn() {
      done = 0;
      await nextTurn();
      signal?.throwIfAborted();
    },
  };
}
