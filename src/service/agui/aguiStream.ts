import type { Context } from 'hono';
import { streamSSE, type SSEStreamingApi } from 'hono/streaming';
import { ENDED_STATUSES, type Operation, type RunSummary } from '../../log/format/record.ts';
import type { FollowedRun } from '../TenantRuns.ts';
import { followRun } from '../http/followRun.ts';
import type { ServiceDeps } from '../http/serviceDeps.ts';
import type { ServiceEnv } from '../http/serviceEnv.ts';
import { interruptsOf, type WaitingCall } from './aguiInterrupts.ts';
import { AguiTranslator, type AguiEvent } from './AguiTranslator.ts';

const ENDED = new Set<string>(ENDED_STATUSES);

/**
 * One AG-UI request's events: made before the run starts or is decided, so that no streamed text is
 * missed; its events wait in order until the response's stream opens.
 */
export class AguiExchange {
  readonly translator: AguiTranslator;
  readonly #pending: AguiEvent[] = [];
  #sink: SSEStreamingApi | undefined;
  #writing: Promise<void> = Promise.resolve();
  #unsubscribe: (() => void) | undefined;

  constructor(ids: { threadId: string; runId: string; statecraftRunId: string }) {
    this.translator = new AguiTranslator(ids, (event) => {
      this.#pending.push(event);
      void this.flush();
    });
    this.translator.started();
  }

  /** Hears the run's live events (its streamed text) from now on. */
  listen(deps: ServiceDeps, runId: string): void {
    this.#unsubscribe ??= deps.executor.subscribe((event) => {
      if (event.runId === runId) this.translator.live(event);
    }, runId);
  }

  close(): void {
    this.#unsubscribe?.();
  }

  /** Writes the events made so far, once the stream is open; resolves when they are written. */
  flush(): Promise<void> {
    const sink = this.#sink;
    if (!sink) return Promise.resolve();
    this.#writing = this.#writing.then(async () => {
      while (this.#pending.length) await sink.writeSSE({ data: JSON.stringify(this.#pending.shift()) });
    }).catch(() => sink.abort());
    return this.#writing;
  }

  open(sink: SSEStreamingApi): Promise<void> {
    this.#sink = sink;
    return this.flush();
  }
}

/** Where the stream starts in the run, and what ends it. */
export interface AguiFollow {
  runId: string;
  run: FollowedRun;
  /** The last record the client has the state of (its snapshot was sent); -1: the snapshot is the first record's. */
  after: number;
  /** Calls this request decided: while the run still lists one as waiting, the decision is not recorded yet. */
  decided: ReadonlySet<string>;
  /** Tokens the run had used before this request: RUN_FINISHED reports only this request's. */
  usedBefore: Pick<RunSummary, 'inputTokens' | 'outputTokens'>;
}

const usageSince = (before: AguiFollow['usedBefore'], now: RunSummary) => {
  const inputTokens = Math.max(0, now.inputTokens - before.inputTokens);
  const outputTokens = Math.max(0, now.outputTokens - before.outputTokens);
  return inputTokens + outputTokens > 0 ? [{ inputTokens, outputTokens, totalTokens: inputTokens + outputTokens }] : [];
};

/**
 * Answers an AG-UI request with the run's events as SSE: every record after `after`, until the run ends
 * (RUN_FINISHED or RUN_ERROR) or waits for people on calls this request did not decide (RUN_FINISHED
 * with an interrupt outcome). A stream the service stops ends with RUN_ERROR; the run goes on.
 */
export function streamAgui(c: Context<ServiceEnv>, deps: ServiceDeps, exchange: AguiExchange, follow: AguiFollow): Response {
  const { runId, run, decided } = follow;
  const patches = new Map<number, Operation[]>();
  const patchOf = async (seq: number) => {
    if (!patches.has(seq)) for (const entry of await run.patches({ from: seq })) patches.set(entry.seq, entry.patch);
    const patch = patches.get(seq) ?? [];
    patches.delete(seq);
    return patch;
  };
  let snapshotted = follow.after >= 0;
  c.header('cache-control', 'no-store');
  c.header('x-accel-buffering', 'no');
  return streamSSE(c, async (stream) => {
    try {
      await exchange.open(stream);
      const end = await followRun(deps, stream, runId, run, follow.after, {
        record: async (entry) => {
          if (!snapshotted) {
            exchange.translator.snapshot(await run.stateAt(entry.seq), entry.seq);
            snapshotted = true;
          } else if (exchange.translator.record(entry.seq, await patchOf(entry.seq)) === 'resnapshot') {
            exchange.translator.snapshot(await run.stateAt(entry.seq), entry.seq);
          }
          await exchange.flush();
        },
        settled: async (summary, caughtUp) => {
          if (!caughtUp) return false;
          const waiting = summary.status === 'waiting' && Array.isArray(summary.waitingOn) ? (summary.waitingOn as WaitingCall[]) : [];
          if (ENDED.has(summary.status)) exchange.translator.ended(summary, usageSince(follow.usedBefore, summary));
          else if (waiting.length && !waiting.some((call) => decided.has(call.callId))) exchange.translator.interrupted(interruptsOf(runId, waiting), usageSince(follow.usedBefore, summary));
          else return false;
          await exchange.flush();
          return true;
        },
      });
      if (end === 'stopped' && !stream.aborted) {
        exchange.translator.failed(`This service instance is stopping, so the stream of run ${runId} ended; the run goes on. Read it with GET /v1/runs/${runId}, or answer its interrupts once it waits.`, 'stream_stopped');
        await exchange.flush();
      }
    } finally {
      exchange.close();
    }
  }, async (error, stream) => {
    deps.logger.log('error', 'stream.failed', { requestId: c.get('requestId'), runId, error });
    exchange.translator.failed(`Run ${runId} could not be read, so its stream ended; the run goes on. Read it with GET /v1/runs/${runId}.`, 'stream_failed');
    await exchange.open(stream).catch(() => {});
  }) as never;
}
