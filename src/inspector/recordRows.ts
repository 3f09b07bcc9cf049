import type { Json } from '../log/format/record.ts';
import type { HistoryEntry, RunStore } from '../log/stores/runStore.ts';

/** What kind of thing a record is, as a user thinks of it. */
export const ROW_KINDS = ['start', 'model', 'tool', 'approval', 'fitness', 'compaction', 'run', 'error', 'other'] as const;
export type RowKind = (typeof ROW_KINDS)[number];

/** One line of the inspector's timeline: a record said in words, without its patch or state. */
export interface RecordRow {
  seq: number;
  time: string;
  kind: RowKind;
  /** What happened, in words ("add finished in 12 ms", "model asks for add"). */
  label: string;
  /** The event's own type (`xstate.done.actor.callModel`), for the details view. */
  eventType: string;
  /** The active states after the record, leaves only (`execute`, `a.b, c`). */
  state: string;
  tool?: string;
  /** A tool call's outcome, or a decision. */
  status?: 'started' | 'ok' | 'error' | 'interrupted' | 'approved' | 'rejected' | 'expired';
  durationMs?: number;
}

/** What the timeline can be narrowed by; every given field must match. */
export interface RowFilter {
  kind?: RowKind[];
  tool?: string;
  state?: string;
  /** Case-insensitive, in the row's words and the event's JSON. */
  text?: string;
}

type Obj = Record<string, unknown>;
const asObject = (value: unknown): Obj | undefined => (typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Obj) : undefined);

/** Leaf state names of a state value, as `a.b, c`. */
export function stateText(value: Json): string {
  if (typeof value === 'string') return value;
  const leaves: string[] = [];
  const walk = (prefix: string, v: unknown) => {
    const object = asObject(v);
    if (typeof v === 'string') leaves.push(prefix ? `${prefix}.${v}` : v);
    else if (object) for (const [key, child] of Object.entries(object)) walk(prefix ? `${prefix}.${key}` : key, child);
  };
  walk('', value);
  return leaves.join(', ');
}

const clip = (text: string, length: number) => (text.length > length ? `${text.slice(0, length - 1)}…` : text);
const ms = (value: unknown) => (typeof value === 'number' ? ` in ${Math.round(value)} ms` : '');
const tokens = (usage: unknown) => {
  const u = asObject(usage);
  return u && typeof u.inputTokens === 'number' ? ` · ${u.inputTokens} in / ${u.outputTokens} out` : '';
};

/**
 * Words for records, one run at a time and in order: a tool's start and finish events name their call
 * only, so the tool's name is taken from the model turn that asked for the call.
 */
class RowNamer {
  readonly #tools = new Map<string, string>();

  row(entry: HistoryEntry): RecordRow {
    const base = { seq: entry.seq, time: entry.time, eventType: entry.eventType, state: stateText(entry.state) };
    const described = this.#describe(entry.event as Obj & { type: string }, entry);
    const durationMs = described.durationMs ?? entry.meta?.durationMs;
    return { ...base, ...described, ...(typeof durationMs === 'number' ? { durationMs: Math.round(durationMs) } : {}) };
  }

  #toolOf(callId: unknown): string {
    return this.#tools.get(String(callId)) ?? 'tool';
  }

  #describe(e: Obj & { type: string }, entry: HistoryEntry): Omit<RecordRow, 'seq' | 'time' | 'eventType' | 'state'> {
    const type = e.type;
    const call = String(e.callId ?? '');
    switch (type) {
      case 'xstate.init':
        return { kind: 'start', label: 'Run started' };
      case 'TOOL_STARTED':
        return { kind: 'tool', tool: this.#toolOf(call), status: 'started', label: `${this.#toolOf(call)} started (${call})` };
      case 'TOOL_INTERRUPTED':
        return { kind: 'tool', tool: this.#toolOf(call), status: 'interrupted', label: `${this.#toolOf(call)} interrupted (${call}): ${clip(String(e.note ?? ''), 120)}` };
      case 'TOOL_FINISHED': {
        const outcome = asObject(e.outcome);
        const tool = this.#toolOf(call);
        const failed = outcome?.isError === true;
        const content = typeof outcome?.content === 'string' ? `: ${clip(outcome.content, 120)}` : '';
        return {
          kind: 'tool',
          tool,
          status: failed ? 'error' : 'ok',
          label: `${tool} ${failed ? 'failed' : 'finished'}${ms(outcome?.durationMs)}${failed ? content : ''}`,
          ...(typeof outcome?.durationMs === 'number' ? { durationMs: outcome.durationMs } : {}),
        };
      }
      case 'APPROVE':
        return { kind: 'approval', tool: this.#toolOf(call), status: 'approved', label: `${this.#toolOf(call)} approved by ${e.by ?? 'user'} (${call})${e.always ? ', always' : ''}` };
      case 'REJECT':
        return { kind: 'approval', tool: this.#toolOf(call), status: 'rejected', label: `${this.#toolOf(call)} rejected by ${e.by ?? 'user'} (${call}): ${clip(String(e.reason ?? ''), 120)}` };
      case 'APPROVAL_EXPIRED':
        return { kind: 'approval', status: 'expired', label: 'Approval deadline passed' };
      case 'CANCEL':
      case 'statecraft.cancelled':
        return { kind: 'run', label: `Run cancelled${e.reason ? `: ${clip(String(e.reason), 120)}` : ''}` };
      case 'DEADLINE':
        return { kind: 'run', label: 'Deadline reached' };
      case 'statecraft.resumed':
        return { kind: 'run', label: `Run resumed (process ${e.pid ?? '?'})` };
      case 'statecraft.forked': {
        const from = asObject(e.from);
        return { kind: 'run', label: `Forked from ${from?.runId ?? '?'} at record ${from?.seq ?? '?'}` };
      }
      case 'statecraft.model_swap':
        return { kind: 'run', label: 'Model changed on resume' };
      case 'statecraft.machine_changed':
        return { kind: 'run', label: 'Machine definition changed on resume' };
    }
    if (type === 'xstate.done.actor.callModel') {
      const output = asObject(e.output);
      const message = asObject(output?.message);
      const calls = Array.isArray(message?.toolCalls) ? message.toolCalls.map(asObject) : [];
      for (const c of calls) if (c && typeof c.id === 'string' && typeof c.name === 'string') this.#tools.set(c.id, c.name);
      const names = [...new Set(calls.map((c) => String(c?.name)))];
      const said = typeof message?.content === 'string' && message.content ? clip(message.content.replace(/\s+/g, ' '), 140) : '';
      const what = names.length ? `Model asks for ${names.join(', ')}${said ? ` and says: ${said}` : ''}` : `Model answers: ${said || '(nothing)'}`;
      return { kind: 'model', label: `${what}${tokens(output?.usage ?? entry.meta?.usage)}`, ...(names.length === 1 ? { tool: names[0] } : {}) };
    }
    if (type === 'xstate.done.actor.executeTools') return { kind: 'tool', label: 'Tool calls done' };
    if (type === 'xstate.done.actor.evaluateFitness') {
      const results = Array.isArray(e.output) ? e.output.map(asObject) : Object.values(asObject(e.output) ?? {}).map(asObject);
      const breached = results.filter((r) => r && r.ok === false).map((r) => String(r?.name));
      return { kind: 'fitness', label: breached.length ? `Fitness check: ${breached.join(', ')} breached` : 'Fitness check passed' };
    }
    if (/compact/i.test(type)) return { kind: 'compaction', label: `Context compacted` };
    if (type.startsWith('xstate.error.actor.')) {
      const actor = type.slice('xstate.error.actor.'.length);
      const message = asObject(e.error)?.message;
      return { kind: 'error', label: `${actor === 'callModel' ? 'Model call' : actor === 'executeTools' ? 'Tool calls' : actor} failed${message ? `: ${clip(String(message), 140)}` : ''}` };
    }
    if (type.startsWith('xstate.done.actor.')) return { kind: 'other', label: `${type.slice('xstate.done.actor.'.length)} finished` };
    return { kind: 'other', label: type };
  }
}

interface RunRows {
  version: string;
  rows: RecordRow[];
  /** Lower-cased words and event JSON per row, for text search. */
  texts: string[];
  namer: RowNamer;
  tools: Set<string>;
  states: Set<string>;
}

/** Characters of an event kept for text search, per record. */
const SEARCH_CHARS = 4000;
/** Records read from the store at a time while every row of a run is built; the event loop is let go between reads. */
const READ_BATCH = 500;
/** Records read at most before a range of rows, to find the model turns that named the tools of its calls. */
const LOOKBACK = 64;
/** Records read at a time while looking back. */
const LOOKBACK_STEP = 8;

/** The ids of the tool calls a model turn asks for. */
function callsNamed(entry: HistoryEntry): unknown[] {
  if (entry.eventType !== 'xstate.done.actor.callModel') return [];
  const calls = (entry.event as { output?: { message?: { toolCalls?: { id?: unknown }[] } } }).output?.message?.toolCalls;
  return Array.isArray(calls) ? calls.map((call) => call?.id) : [];
}

const versionOf = (summary: { createdAt: string; truncations?: number }) => `${summary.createdAt}/${summary.truncations ?? 0}`;

/**
 * The timeline rows of runs. A range of rows is read from the store as asked (with a few records
 * before it, for tool names); every row of a run, which search and the facets need, is built once and
 * extended as the run grows. A run is append-only until repaired, which changes its version and starts
 * its rows over.
 */
export class RecordRows {
  readonly #store: RunStore;
  readonly #runs = new Map<string, RunRows>();
  readonly #queues = new Map<string, Promise<unknown>>();

  constructor(store: RunStore) {
    this.#store = store;
  }

  /** Rows `from` to `to` of a run (fewer past its end), and its last seq. */
  async range(runId: string, from: number, to: number): Promise<{ lastSeq: number; rows: RecordRow[] }> {
    const summary = await this.#store.summary(runId);
    const built = this.#runs.get(runId);
    const end = Math.min(to, summary.lastSeq);
    if (built?.version === versionOf(summary) && end < built.rows.length) return { lastSeq: summary.lastSeq, rows: built.rows.slice(from, end + 1) };
    if (from > end) return { lastSeq: summary.lastSeq, rows: [] };
    let entries = await this.#store.readHistory(runId, { from, to: end });
    // A call's events name the call only: the turns that named the tools are read too, when they are
    // earlier, a few records at a time back from the range (a turn is usually a record or two back).
    const unnamed = new Set<unknown>();
    const named = new Set<unknown>();
    for (const entry of entries) {
      for (const id of callsNamed(entry)) named.add(id);
      if ('callId' in entry.event && !named.has(entry.event.callId)) unnamed.add(entry.event.callId);
    }
    for (let before = from; unnamed.size > 0 && before > 0 && from - before < LOOKBACK; ) {
      const earlier = await this.#store.readHistory(runId, { from: Math.max(0, before - LOOKBACK_STEP), to: before - 1 });
      before = Math.max(0, before - LOOKBACK_STEP);
      entries = [...earlier, ...entries];
      for (const entry of earlier) for (const id of callsNamed(entry)) unnamed.delete(id);
    }
    const namer = new RowNamer();
    const rows = entries.map((entry) => namer.row(entry)).filter((row) => row.seq >= from);
    return { lastSeq: summary.lastSeq, rows };
  }

  /** Every row of the run up to its last record, with the tools and states seen. */
  all(runId: string): Promise<RunRows> {
    const previous = this.#queues.get(runId) ?? Promise.resolve();
    const job = previous.catch(() => undefined).then(() => this.#extend(runId));
    this.#queues.set(runId, job);
    void job.finally(() => {
      if (this.#queues.get(runId) === job) this.#queues.delete(runId);
    }).catch(() => undefined);
    return job;
  }

  async #extend(runId: string): Promise<RunRows> {
    const summary = await this.#store.summary(runId);
    const version = versionOf(summary);
    let run = this.#runs.get(runId);
    if (run?.version !== version) {
      run = { version, rows: [], texts: [], namer: new RowNamer(), tools: new Set(), states: new Set() };
      this.#runs.set(runId, run);
    }
    while (run.rows.length <= summary.lastSeq) {
      const from = run.rows.length;
      const entries = await this.#store.readHistory(runId, { from, to: Math.min(summary.lastSeq, from + READ_BATCH - 1) });
      if (entries.length === 0) break;
      for (const entry of entries) {
        if (entry.seq !== run.rows.length) continue;
        const row = run.namer.row(entry);
        run.rows.push(row);
        run.texts.push(`${row.label}\n${JSON.stringify(entry.event).slice(0, SEARCH_CHARS)}`.toLowerCase());
        if (row.tool) run.tools.add(row.tool);
        if (row.state) run.states.add(row.state);
      }
      // A long run is read in pieces, so that the records asked for meanwhile are answered between them.
      await new Promise((resolve) => setImmediate(resolve));
    }
    return run;
  }
}

/** Whether a row passes a filter; `text` is the row's search text (lower-cased). */
export function matchesRow(row: RecordRow, text: string, filter: RowFilter): boolean {
  if (filter.kind && !filter.kind.includes(row.kind)) return false;
  if (filter.tool !== undefined && row.tool !== filter.tool) return false;
  if (filter.state !== undefined && !row.state.split(', ').some((leaf) => leaf === filter.state || leaf.endsWith(`.${filter.state}`))) return false;
  if (filter.text !== undefined && !text.includes(filter.text.toLowerCase())) return false;
  return true;
}

/** True when a filter narrows anything. */
export const isFiltering = (filter: RowFilter): boolean =>
  filter.kind !== undefined || filter.tool !== undefined || filter.state !== undefined || filter.text !== undefined;
