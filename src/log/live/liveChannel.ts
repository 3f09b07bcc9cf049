/**
 * What travels on a store's live channel: model text as it streams (`delta`, redacted as records are),
 * and requests to the process running a run (`cancel`). Nothing on it is the source of truth: a
 * message may be lost, and the run's log says what happened.
 */
export type LiveMessage =
  | { type: 'delta'; runId: string; step: number; text: string; actor?: string }
  | { type: 'cancel'; runId: string; reason: string };

/**
 * A small ephemeral channel beside a run store, between processes using that store: in process for
 * the memory store, a watched file next to a SQLite database, LISTEN/NOTIFY on PostgreSQL. Every
 * method is best effort and never throws into a run: losing the channel loses live text, not records.
 */
export interface LiveChannel {
  /** Sends a message to the subscribers of its run, in this process and others. */
  publish(message: LiveMessage): void;
  /**
   * Calls `listener` with each message about `runId` published from the moment the returned promise
   * resolves, in the order published, until the returned function is called. Rejects when the
   * channel cannot be reached.
   */
  subscribe(runId: string, listener: (message: LiveMessage) => void): Promise<() => void>;
  /** The run's step ended (its text is in the log now): what the channel holds of its text may go. */
  endStep(runId: string): void;
  /** The run ended or let go in this process: what the channel holds for it may go. */
  endRun(runId: string): void;
  close(): Promise<void>;
}

/** A store that has a live channel; stores without one (a read-only copy, say) stream no text. */
export interface WithLiveChannel {
  liveChannel?(): LiveChannel;
}

/** A message as received from another process, or undefined when it is not one (a torn or foreign line). */
export function parseLiveMessage(value: unknown): LiveMessage | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const message = value as Record<string, unknown>;
  if (typeof message.runId !== 'string') return undefined;
  if (message.type === 'delta' && typeof message.text === 'string' && typeof message.step === 'number') {
    return {
      type: 'delta',
      runId: message.runId,
      step: message.step,
      text: message.text,
      ...(typeof message.actor === 'string' ? { actor: message.actor } : {}),
    };
  }
  if (message.type === 'cancel' && typeof message.reason === 'string') return { type: 'cancel', runId: message.runId, reason: message.reason };
  return undefined;
}

/** Calls a listener without letting what it throws reach the channel (or the run publishing). */
export function deliver(listener: (message: LiveMessage) => void, message: LiveMessage): void {
  try {
    listener(message);
  } catch {
    // A subscriber's failure is its own.
  }
}
