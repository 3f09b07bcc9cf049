import type { Json } from '../log/format/record.ts';
import type { HistoryEntry } from '../log/stores/runStore.ts';

/** One bar of a step's waterfall: milliseconds from the step's start. */
export interface TimingSpan {
  kind: 'model' | 'approval' | 'tool' | 'fitness';
  /** What the bar is, in words ("add", "waiting for approval of publish"). */
  label: string;
  start: number;
  end: number;
  status: 'ok' | 'error' | 'running' | 'interrupted' | 'waiting' | 'approved' | 'rejected' | 'expired' | 'denied' | 'invalid' | 'unfinished';
  callId?: string;
  tool?: string;
  /** The error a failed call or model call reported, shortened. */
  error?: string;
  /** Who decided an approval. */
  by?: string;
  /** The duration the runtime measured, where it did (a tool's own time, without the record's writing). */
  durationMs?: number;
  /** The record that ended the span (or started it, when it never ended), to open from the bar. */
  seq: number;
}

/** A step's timing: the loop's turn from assembling the model's input to checking whether to stop. */
export interface StepTiming {
  /** The turn's number (1 for the first model call); 0 when the run has no model turn near the record. */
  step: number;
  /** The invoked agent the turn belongs to, as its records name it; '' for the run's own agent. */
  actor: string;
  /** The turn's records, inclusive. */
  fromSeq: number;
  toSeq: number;
  startedAt: string;
  durationMs: number;
  /** False while the run has not gone past the turn yet (its last records are still to come). */
  complete: boolean;
  spans: TimingSpan[];
  /** Spans left out past the most a step view draws. */
  more: number;
}

/** What a turn's model call set up: the calls as dispatched (`awaiting` those that wait for a person). */
export interface TurnState {
  step: number;
  calls: { id: string; name: string; status: string }[];
}

/** Spans a timing answers at most; a turn with more calls says how many were left out. */
export const MAX_SPANS = 400;

type Obj = Record<string, unknown>;
const asObject = (value: unknown): Obj | undefined => (typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Obj) : undefined);
const clip = (text: string, length: number) => (text.length > length ? `${text.slice(0, length - 1)}…` : text);

/** The invoked agent a record belongs to ('' for the run's own agent). */
export const actorOf = (entry: HistoryEntry): string => (typeof entry.meta?.actor === 'string' ? entry.meta.actor : '');

/** True for the record of a model call's answer or failure: where a turn's records begin. */
export const isModelOutcome = (entry: HistoryEntry): boolean =>
  entry.eventType === 'xstate.done.actor.callModel' || entry.eventType === 'xstate.error.actor.callModel';

/**
 * The spans of one turn, from its records: `previous` is the record before the turn's model answer (the
 * one that entered the turn, whose time is the turn's start), `records` the model answer and the
 * records after it up to the next answer, all of the turn's actor; `turn` is the state right after the
 * model answer. `complete` says whether the run went on past the turn; an open turn's spans that are
 * not over end at `now` (epoch ms) when given, else at its last record.
 */
export function stepTiming(previous: HistoryEntry | undefined, records: HistoryEntry[], turn: TurnState, complete: boolean, now?: number): StepTiming {
  const first = records[0]!;
  const last = records.at(-1)!;
  const event = first.event as Obj;
  const output = asObject(event.output);
  const answeredAt = typeof output?.at === 'number' ? output.at : Date.parse(first.time);
  const modelMs = typeof output?.durationMs === 'number' ? output.durationMs : typeof first.meta?.durationMs === 'number' ? first.meta.durationMs : 0;
  const failed = first.eventType.startsWith('xstate.error.');
  const origin = previous ? Date.parse(previous.time) : failed ? Date.parse(first.time) : answeredAt - modelMs;
  const at = (entry: HistoryEntry) => Date.parse(entry.time) - origin;
  // A turn still going on lasts until now: a wait or a call not yet over is as long as it has been.
  const end = Math.max(at(last), failed ? at(first) : answeredAt - origin, !complete && now !== undefined ? now - origin : 0);

  const spans: TimingSpan[] = [];
  const model = typeof first.meta?.model === 'string' ? first.meta.model : 'model';
  const usage = asObject(output?.usage);
  const tokens = usage && typeof usage.inputTokens === 'number' ? ` · ${usage.inputTokens} in / ${usage.outputTokens} out` : '';
  if (failed) {
    const message = asObject(event.error)?.message;
    spans.push({ kind: 'model', label: `model call failed: ${model}`, start: 0, end: at(first), status: 'error', seq: first.seq, ...(message ? { error: clip(String(message), 200) } : {}) });
  } else {
    spans.push({ kind: 'model', label: `model call: ${model}${tokens}`, start: Math.max(0, answeredAt - modelMs - origin), end: answeredAt - origin, status: 'ok', durationMs: modelMs, seq: first.seq });
  }

  const names = new Map(turn.calls.map((call) => [call.id, call.name]));
  const waits = new Map<string, TimingSpan>();
  const runs = new Map<string, TimingSpan>();
  const waitFor = (callId: string, since: HistoryEntry) => {
    const tool = names.get(callId) ?? 'tool';
    waits.set(callId, { kind: 'approval', label: `waiting for approval of ${tool}`, start: at(since), end, status: 'waiting', callId, tool, seq: since.seq });
  };
  for (const call of turn.calls) {
    if (call.status === 'awaiting') waitFor(call.id, first);
    else if (call.status === 'denied' || call.status === 'invalid') {
      runs.set(call.id, { kind: 'tool', label: `${call.name} ${call.status === 'denied' ? 'denied by policy' : 'refused: invalid arguments'}`, start: at(first), end: at(first), status: call.status, callId: call.id, tool: call.name, seq: first.seq });
    }
  }
  const decide = (span: TimingSpan | undefined, entry: HistoryEntry, status: TimingSpan['status'], by?: unknown) => {
    if (!span || span.status !== 'waiting') return;
    Object.assign(span, { end: at(entry), status, seq: entry.seq, ...(typeof by === 'string' ? { by } : {}) });
  };
  let fitnessFrom: HistoryEntry | undefined;
  for (const entry of records.slice(1)) {
    const e = entry.event as Obj;
    const callId = typeof e.callId === 'string' ? e.callId : '';
    const tool = names.get(callId) ?? 'tool';
    switch (entry.eventType) {
      case 'APPROVE':
        decide(waits.get(callId), entry, 'approved', e.by);
        break;
      case 'REJECT':
        decide(waits.get(callId), entry, 'rejected', e.by);
        break;
      case 'APPROVAL_EXPIRED':
        for (const span of waits.values()) decide(span, entry, 'expired');
        break;
      case 'TOOL_STARTED':
        if (!runs.has(callId)) runs.set(callId, { kind: 'tool', label: tool, start: at(entry), end, status: complete ? 'unfinished' : 'running', callId, tool, seq: entry.seq });
        break;
      case 'TOOL_FINISHED': {
        const outcome = asObject(e.outcome);
        const span = runs.get(callId) ?? { kind: 'tool', label: tool, start: at(entry), end: at(entry), status: 'ok', callId, tool, seq: entry.seq };
        const isError = outcome?.isError === true;
        Object.assign(span, { end: at(entry), status: isError ? 'error' : 'ok', seq: entry.seq });
        if (typeof outcome?.durationMs === 'number') span.durationMs = Math.round(outcome.durationMs);
        if (isError && typeof outcome?.content === 'string') span.error = clip(outcome.content, 200);
        runs.set(callId, span);
        break;
      }
      case 'TOOL_INTERRUPTED': {
        const span = runs.get(callId);
        if (span) Object.assign(span, { end: at(entry), status: 'interrupted', seq: entry.seq, error: clip(String(e.note ?? ''), 200) });
        // An interrupted call waits for a person to say whether to run it again.
        waits.delete(callId);
        waitFor(callId, entry);
        break;
      }
      case 'xstate.done.actor.executeTools':
        fitnessFrom = entry;
        break;
      case 'xstate.done.actor.evaluateFitness': {
        const results = Array.isArray(e.output) ? e.output.map(asObject) : [];
        const breached = results.filter((r) => r?.ok === false).map((r) => String(r?.name));
        const from = fitnessFrom ?? previous ?? first;
        spans.push({ kind: 'fitness', label: breached.length ? `fitness check: ${breached.join(', ')} breached` : 'fitness check', start: Math.max(0, at(from)), end: at(entry), status: breached.length ? 'error' : 'ok', seq: entry.seq });
        break;
      }
    }
  }
  // Per call, its wait for a person before its run; calls in the order the model asked for them.
  const order = new Map(turn.calls.map((call, index) => [call.id, index]));
  const perCall = [...waits.values(), ...runs.values()].sort(
    (a, b) => a.start - b.start || (order.get(a.callId!) ?? 0) - (order.get(b.callId!) ?? 0) || (a.kind === 'approval' ? -1 : 1),
  );
  const all = [...spans.slice(0, 1), ...perCall, ...spans.slice(1)];
  return {
    step: turn.step,
    actor: actorOf(first),
    fromSeq: first.seq,
    toSeq: last.seq,
    startedAt: new Date(origin).toISOString(),
    durationMs: end,
    complete,
    spans: all.slice(0, MAX_SPANS),
    more: Math.max(0, all.length - MAX_SPANS),
  };
}

/** The turn's step and calls from the persisted state right after its model answer (or failure). */
export function turnState(agentContext: Json | undefined, failed: boolean): TurnState {
  const context = asObject(agentContext);
  const step = typeof context?.step === 'number' ? context.step : 0;
  const turn = asObject(context?.turn);
  const calls = Array.isArray(turn?.calls)
    ? turn.calls.map(asObject).flatMap((call) => (call && typeof call.id === 'string' ? [{ id: call.id, name: String(call.name), status: String(call.status) }] : []))
    : [];
  // A failed model call leaves the count where it was: the failure is the next turn's.
  return failed ? { step: step + 1, calls: [] } : { step, calls };
}
