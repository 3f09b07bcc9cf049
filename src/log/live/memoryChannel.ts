import { deliver, type LiveChannel, type LiveMessage } from './liveChannel.ts';

/** The live channel of a store held in memory: subscribers in this process, told after the current tick. */
export class MemoryChannel implements LiveChannel {
  readonly #listeners = new Map<string, Set<(message: LiveMessage) => void>>();
  #closed = false;

  publish(message: LiveMessage): void {
    if (this.#closed) return;
    const listeners = this.#listeners.get(message.runId);
    if (!listeners?.size) return;
    // Copied now: a subscriber that joins after the publish does not get it.
    const now = [...listeners];
    queueMicrotask(() => {
      for (const listener of now) if (listeners.has(listener)) deliver(listener, message);
    });
  }

  async subscribe(runId: string, listener: (message: LiveMessage) => void): Promise<() => void> {
    let listeners = this.#listeners.get(runId);
    if (!listeners) this.#listeners.set(runId, (listeners = new Set()));
    const own = (message: LiveMessage) => listener(message);
    listeners.add(own);
    return () => {
      listeners.delete(own);
      if (!listeners.size && this.#listeners.get(runId) === listeners) this.#listeners.delete(runId);
    };
  }

  endStep(_runId: string): void {}

  endRun(_runId: string): void {}

  async close(): Promise<void> {
    this.#closed = true;
    this.#listeners.clear();
  }
}
