import { applyPatchInPlace } from '../log/patch.ts';
import type { Json, RunRecord } from '../log/record.ts';
import { stateAt } from '../log/reads.ts';
import type { RunStore } from '../log/runStore.ts';

/** A tool call waiting for a human, with the arguments the model gave it. */
export interface PendingCall {
  callId: string;
  tool: string;
  arguments: Json;
  note?: string;
  argsHash?: string;
  policy?: Json;
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

interface Entry {
  seq: number;
  checksum: string;
  doc: Json;
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
    pending: pendingCalls(asObject(snapshot.context)),
    keyframe: record.snapshot !== undefined,
  };
}

/** Farthest forward step taken from the cached state by patches before a keyframe read is cheaper. */
const MAX_STEP = 64;

/**
 * Reconstructs states for scrubbing: keeps the last state of each run and steps forward from it by patches,
 * falling back to `stateAt` for backward or long jumps; reads of one run are serialized.
 */
export class StateCache {
  readonly #store: RunStore;
  readonly #maxRuns: number;
  readonly #entries = new Map<string, Entry>();
  readonly #queues = new Map<string, Promise<unknown>>();

  constructor(store: RunStore, maxRuns = 16) {
    this.#store = store;
    this.#maxRuns = maxRuns;
  }

  /** Returns the JSON text of the step view at `seq`, built while the run's cached state is locked. */
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
    const stepped = await this.#stepForward(runId, seq);
    let doc: Json;
    let record: RunRecord;
    if (stepped) {
      ({ doc, record } = stepped);
    } else {
      this.#entries.delete(runId);
      doc = await stateAt(this.#store, runId, seq);
      const [found] = await this.#store.read(runId, { from: seq, to: seq });
      if (!found) throw new Error(`Run "${runId}" record ${seq} vanished while it was read; retry.`);
      record = found;
    }
    const text = JSON.stringify(stepView(doc, record));
    this.#entries.delete(runId);
    this.#entries.set(runId, { seq, checksum: record.checksum, doc });
    while (this.#entries.size > this.#maxRuns) this.#entries.delete(this.#entries.keys().next().value as string);
    return text;
  }

  async #stepForward(runId: string, seq: number): Promise<{ doc: Json; record: RunRecord } | undefined> {
    const cached = this.#entries.get(runId);
    if (!cached || seq < cached.seq || seq - cached.seq > MAX_STEP) return undefined;
    const records = await this.#store.read(runId, { from: cached.seq, to: seq });
    // The first record must still be the one the cached state was built from (a repaired run may differ).
    if (records.length !== seq - cached.seq + 1 || records[0]?.checksum !== cached.checksum) return undefined;
    let doc = cached.doc;
    try {
      for (const record of records.slice(1)) doc = applyPatchInPlace(doc, record.patch);
    } catch {
      return undefined;
    }
    return { doc, record: records[records.length - 1]! };
  }
}
