import type { Json, RunRecord } from '../log/format/record.ts';
import { stateAt } from '../log/reads/reads.ts';
import type { RunStore } from '../log/stores/runStore.ts';
import { persistedAgents } from '../log/stores/persistedAgents.ts';
import { agentSnapshot, invokedAgents, type InvokedAgent } from './invokedAgents.ts';

/** A tool call waiting for a human, with the arguments the model gave it. */
export interface PendingCall {
  callId: string;
  tool: string;
  arguments: Json;
  note?: string;
  argsHash?: string;
  policy?: Json;
  /** The invoked agent holding the call (e.g. `researcher`); absent for the run's own agent. */
  actor?: string;
}

/** What the inspector shows for one record: the snapshot after it, split for display, and the record itself. */
export interface StepView {
  seq: number;
  time: string;
  status: Json;
  value: Json;
  context: Json;
  messages: Json[];
  /** How many messages the context holds; `messages` may be a window of them starting at `messagesFrom`. */
  messageCount: number;
  messagesFrom: number;
  event: RunRecord['event'];
  patch: RunRecord['patch'];
  meta: RunRecord['meta'] | null;
  pending: PendingCall[];
  keyframe: boolean;
  /** The agents the run's machine invokes that are running at this record. */
  agents: InvokedAgent[];
}

type Obj = Record<string, Json>;
const asObject = (value: Json | undefined): Obj | undefined =>
  typeof value === 'object' && value !== null && !Array.isArray(value) ? value : undefined;

function pendingCalls(context: Obj | undefined): PendingCall[] {
  const calls = asObject(context?.turn)?.calls;
  if (!Array.isArray(calls)) return [];
  const messages = Array.isArray(context?.messages) ? context.messages : [];
  const argumentsOf = (callId: string): Json => {
    for (let i = messages.length - 1; i >= 0; i--) {
      const toolCalls = asObject(messages[i])?.toolCalls;
      if (!Array.isArray(toolCalls)) continue;
      const call = toolCalls.map(asObject).find((candidate) => candidate?.id === callId);
      if (!call) continue;
      try {
        return typeof call.arguments === 'string' ? (JSON.parse(call.arguments) as Json) : (call.arguments ?? null);
      } catch {
        return call.arguments ?? null;
      }
    }
    return null;
  };
  return calls.flatMap((item) => {
    const call = asObject(item);
    if (call?.status !== 'awaiting' || typeof call.id !== 'string') return [];
    const pending: PendingCall = {
      callId: call.id,
      tool: String(call.name),
      arguments: argumentsOf(call.id),
      ...(typeof call.argsHash === 'string' ? { argsHash: call.argsHash } : {}),
      ...(call.policy ? { policy: call.policy } : {}),
    };
    return typeof call.note === 'string' ? [{ ...pending, note: call.note }] : [pending];
  });
}

/** What a step view shows of its record. */
export type StepRecord = Pick<RunRecord, 'seq' | 'time' | 'event' | 'patch' | 'meta'> & { snapshot?: unknown };

/** Which messages of a step to send: indices `from` to `to` inclusive, or the `last` few; all when absent. */
export type MessageWindow = { from: number; to: number } | { last: number };

/** The first and last index (inclusive) a window takes of `count` messages. */
export function windowRange(window: MessageWindow, count: number): { from: number; to: number } {
  if ('last' in window) return { from: Math.max(0, count - window.last), to: count - 1 };
  const from = Math.max(0, Math.min(window.from, count));
  return { from, to: Math.min(count - 1, window.to) };
}

/** The messages of a persisted snapshot's context. */
export function messagesOf(doc: Json): Json[] {
  const messages = asObject(asObject(doc)?.context)?.messages;
  return Array.isArray(messages) ? messages : [];
}

/** Splits a persisted snapshot and its record into what the inspector page shows. */
export function stepView(doc: Json, record: StepRecord, window?: MessageWindow, keyframe = record.snapshot !== undefined): StepView {
  const snapshot = asObject(doc) ?? {};
  const { messages: _messages, ...context } = asObject(snapshot.context) ?? {};
  const messages = messagesOf(doc);
  const { from, to } = window ? windowRange(window, messages.length) : { from: 0, to: messages.length - 1 };
  return {
    seq: record.seq,
    time: record.time,
    status: snapshot.status ?? null,
    value: snapshot.value ?? null,
    context,
    messages: window ? messages.slice(from, Math.max(from, to + 1)) : messages,
    messageCount: messages.length,
    messagesFrom: from,
    event: record.event,
    patch: record.patch,
    meta: record.meta ?? null,
    pending: persistedAgents(snapshot).flatMap(({ snapshot: agent, path }) =>
      pendingCalls(asObject(agent.context as Json)).map((call) => (path === undefined ? call : { ...call, actor: path })),
    ),
    keyframe,
    agents: invokedAgents(doc),
  };
}

/**
 * Builds the step views the inspector shows; reads of one run are serialized. States come from
 * `stateAt`, which keeps what it has built, so scrubbing a timeline steps forward by a few patches.
 */
export class StateCache {
  readonly #store: RunStore;
  readonly #queues = new Map<string, Promise<unknown>>();

  constructor(store: RunStore) {
    this.#store = store;
  }

  /** Returns the JSON text of the step view at `seq` and `extra`'s fields, with the messages in `window` or all of them. */
  viewJson(runId: string, seq: number, window?: MessageWindow, extra: Record<string, unknown> = {}): Promise<string> {
    return this.#queued(runId, () => this.#compute(runId, seq, window, extra));
  }

  /**
   * Returns the JSON text of `{ count, from, messages }`: the messages at `seq` in `window`, of the run's
   * agent or of the invoked agent at `actor` (invoke ids, `writer`); `absent` when that one is not running then.
   */
  messagesJson(runId: string, seq: number, window: MessageWindow, actor = ''): Promise<string> {
    return this.#queued(runId, async () => {
      const agent = agentSnapshot(await stateAt(this.#store, runId, seq), actor);
      if (agent === undefined) return JSON.stringify({ seq, count: 0, from: 0, messages: [], absent: true });
      const messages = messagesOf(agent);
      const { from, to } = windowRange(window, messages.length);
      return JSON.stringify({ seq, count: messages.length, from, messages: messages.slice(from, Math.max(from, to + 1)) });
    });
  }

  #queued(runId: string, compute: () => Promise<string>): Promise<string> {
    const previous = this.#queues.get(runId) ?? Promise.resolve();
    const job = previous.catch(() => undefined).then(compute);
    this.#queues.set(runId, job);
    void job.finally(() => {
      if (this.#queues.get(runId) === job) this.#queues.delete(runId);
    }).catch(() => undefined);
    return job;
  }

  async #compute(runId: string, seq: number, window: MessageWindow | undefined, extra: Record<string, unknown>): Promise<string> {
    const doc = await stateAt(this.#store, runId, seq);
    // The record without its snapshot: a keyframe's would be read and checked again for nothing.
    const [[entry], [patch], keyframeSeq] = await Promise.all([
      this.#store.readHistory(runId, { from: seq, to: seq }),
      this.#store.readPatches(runId, { from: seq, to: seq }),
      this.#store.keyframeSeqAtOrBefore(runId, seq),
    ]);
    if (!entry || !patch) throw new Error(`Run "${runId}" record ${seq} vanished while it was read; retry.`);
    const record = { seq, time: entry.time, event: entry.event, patch: patch.patch, ...(entry.meta ? { meta: entry.meta } : {}) };
    return JSON.stringify({ ...stepView(doc, record, window, keyframeSeq === seq), ...extra });
  }
}
