import type { LiveChannel } from '../log/live/liveChannel.ts';
import type { RunStore } from '../log/stores/runStore.ts';
import type { RunEvent, RunResult } from './runEvents.ts';

/** What the relay needs of a run: its events, its cancel, its end. */
interface RelayedRun {
  readonly runId: string;
  readonly result: Promise<RunResult>;
  onWork(listener: (event: RunEvent) => void): () => void;
  cancel(reason?: string): void;
}

/**
 * Puts a recorded run on its store's live channel: the model's text as it streams (already redacted,
 * as its events are) goes out, cancel requests from other processes come in. The channel is best
 * effort: a channel that fails or is missing changes nothing in the run.
 */
export function relayLive(run: RelayedRun, store: RunStore): void {
  try {
    const live = store.liveChannel?.();
    if (live) relay(run, live);
  } catch {
    // Live text is lost, nothing else.
  }
}

function relay(run: RelayedRun, live: LiveChannel): void {
  const { runId } = run;
  let stopListening: (() => void) | undefined;
  let ended = false;
  const off = run.onWork((event) => {
    try {
      if (event.type === 'delta') live.publish({ type: 'delta', runId, step: event.step, text: event.text, ...(event.actor === undefined ? {} : { actor: event.actor }) });
      else if (event.type === 'model.answer' || event.type === 'model.failed' || event.type === 'model.retry') live.endStep(runId);
    } catch {
      // As above: the channel's failure is not the run's.
    }
  });
  Promise.resolve()
    .then(() => live.subscribe(runId, (message) => {
      if (message.type === 'cancel') run.cancel(message.reason);
    }))
    .then(
      (stop) => (ended ? stop() : (stopListening = stop)),
      () => undefined,
    );
  const end = () => {
    ended = true;
    off();
    try {
      stopListening?.();
      live.endRun(runId);
    } catch {
      // Nothing to clean up that matters.
    }
  };
  run.result.then(end, end);
}
