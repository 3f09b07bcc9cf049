import type { ServerResponse } from 'node:http';
import type { RunStore } from '../log/stores/runStore.ts';
import type { RunEvent } from '../runtime/runEvents.ts';

/** Live events of runs in this process, as `startInspector` takes them. */
export interface LiveEvents {
  subscribe(listener: (event: RunEvent) => void): () => void;
}

export interface RunStreamOptions {
  store: RunStore;
  runId: string;
  /** The last seq the client already has; records after it are sent. */
  after: number;
  live?: LiveEvents;
  pollMs?: number;
}

const KEEPALIVE_TICKS = 50;

/**
 * Streams a run as Server-Sent Events: `record` (a history entry) for each record appended after `after`,
 * `summary` when the summary changes, `delta` for live token deltas, `problem` when the store cannot be read.
 * Polls the store because another process may be writing the run. Returns a function that stops the stream.
 */
export function streamRun(res: ServerResponse, options: RunStreamOptions): () => void {
  const { store, runId } = options;
  const pollMs = options.pollMs ?? 200;
  let sent = options.after;
  let lastSummary = '';
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let ticks = 0;

  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    connection: 'keep-alive',
    'x-content-type-options': 'nosniff',
  });
  res.write('retry: 1000\n\n');
  const send = (event: string, data: unknown) => {
    if (!stopped) res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  };

  // Text from the store's live channel reaches the page whichever process runs the run; `live` brings
  // that of runs in this process whose store has none.
  const unsubscribeLive = options.live?.subscribe((event) => {
    if (event.runId === runId && event.type === 'delta') send('delta', event);
  });
  let unsubscribe: (() => void) | undefined;
  let channel;
  try {
    channel = store.liveChannel?.();
  } catch {
    channel = undefined;
  }
  if (channel) {
    channel
      .subscribe(runId, (message) => {
        if (message.type === 'delta') send('delta', message);
      })
      .then(
        (stop) => (stopped ? stop() : (unsubscribe = stop)),
        () => undefined,
      );
  }

  const poll = async () => {
    try {
      const summary = await store.summary(runId);
      if (summary.lastSeq > sent) {
        const entries = await store.readHistory(runId, { from: sent + 1, to: summary.lastSeq });
        for (const entry of entries) {
          send('record', entry);
          sent = Math.max(sent, entry.seq);
        }
      }
      const text = JSON.stringify(summary);
      if (text !== lastSummary) {
        lastSummary = text;
        send('summary', summary);
      }
    } catch (error) {
      send('problem', { name: (error as Error).name, message: (error as Error).message });
    }
    ticks += 1;
    if (ticks % KEEPALIVE_TICKS === 0 && !stopped) res.write(': keepalive\n\n');
    if (!stopped) timer = setTimeout(() => void poll(), pollMs);
  };

  const stop = () => {
    if (stopped) return;
    stopped = true;
    clearTimeout(timer);
    unsubscribe?.();
    unsubscribeLive?.();
    res.end();
  };
  res.on('close', stop);
  void poll();
  return stop;
}
