import type { Json, RunRecord } from '../log/format/record.ts';
import { stateAt } from '../log/reads/reads.ts';
import type { RunStore } from '../log/stores/runStore.ts';
import { persistedAgents } from '../log/stores/persistedAgents.ts';

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
  event: RunRecord['event'];
  patch: RunRecord['patch'];
  meta: RunRecord['meta'] | null;
  pending: PendingCall[];
  keyframe: boolean;
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

/** Splits a persisted snapshot and its record into what the inspector page shows. */
export function stepView(doc: Json, record: RunRecord): StepView {
  const snapshot = asObject(doc) ?? {};
  const { messages, ...context } = asObject(snapshot.context) ?? {};
  return {
    seq: record.seq,
    time: record.time,
    status: snapshot.status ?? null,
    value: snapshot.value ?? null,
    context,
    messages: Array.isArray(messages) ? messages : [],
    event: record.event,
    patch: record.patch,
    meta: record.meta ?? null,
    pending: persistedAgents(snapshot).flatMap(({ snapshot: agent, path }) =>
      pendingCalls(asObject(agent.context as Json)).map((call) => (path === undefined ? call : { ...call, actor: path })),
    ),
    keyframe: record.snapshot !== undefined,
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

  /** Returns the JSON text of the step view at `seq`. */
  viewJson(runId: string, seq: number): Promise<string> {
    const previous = this.#queues.get(runId) ?? Promise.resolve();
    const job = previous.catch(() => undefined).then(() => this.#compute(runId, seq));
    this.#queues.set(runId, job);
    void job.finally(() => {
      if (this.#queues.get(runId) === job) this.#queues.delete(runId);
    }).catch(() => undefined);
    return job;
  }

  async #compute(runId: string, seq: number): Promise<string> {
    const doc = await stateAt(this.#store, runId, seq);
    const [record] = await this.#store.read(runId, { from: seq, to: seq });
    if (!record) throw new Error(`Run "${runId}" record ${seq} vanished while it was read; retry.`);
    return JSON.stringify(stepView(doc, record));
  }
}
