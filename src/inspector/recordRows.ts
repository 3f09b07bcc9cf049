import type { HistoryEntry, RunStore } from '../log/stores/runStore.ts';
import type { RunSummary } from '../log/format/record.ts';
import { endingOf, RowNamer, type RecordRow, type RowKind } from './rowNamer.ts';

export { ROW_KINDS, stateText, type RecordRow, type RowKind } from './rowNamer.ts';

/** What the timeline can be narrowed by; every given field must match. */
export interface RowFilter {
  kind?: RowKind[];
  tool?: string;
  state?: string;
  /** Case-insensitive, in the row's words and the event's JSON. */
  text?: string;
}

/** The run's last row says how the run ended, once it has. */
function withEnding(row: RecordRow, summary: RunSummary): RecordRow {
  const ending = row.seq === summary.lastSeq ? endingOf(summary, row.label) : '';
  return ending && !(row.kind === 'run' && row.label.startsWith('Run cancelled')) ? { ...row, label: `${row.label}${ending}` } : row;
}

interface RunRows {
  version: string;
  rows: RecordRow[];
  /** Lower-cased words and event JSON per row, for text search. */
  texts: string[];
  namer: RowNamer;
  tools: Set<string>;
  states: Set<string>;
  /** The last row as named before its ending was added, while it has one. */
  ended?: RecordRow;
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
    if (built?.version === versionOf(summary) && end < built.rows.length) {
      const rows = built.rows.slice(from, end + 1).map((row) => (row.seq === built.ended?.seq ? built.ended : row));
      return { lastSeq: summary.lastSeq, rows: rows.map((row) => withEnding(row, summary)) };
    }
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
    return { lastSeq: summary.lastSeq, rows: rows.map((row) => withEnding(row, summary)) };
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
    if (run.ended) run.rows[run.ended.seq] = run.ended;
    run.ended = undefined;
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
    const last = run.rows[summary.lastSeq];
    const ended = last && withEnding(last, summary);
    if (last && ended !== last) {
      run.ended = last;
      run.rows[summary.lastSeq] = ended!;
    }
    return run;
  }
}

/** Whether a leaf state path (`a.b`) is the state a filter names, or lies within it (`a`); a bare name matches that leaf at any depth. */
const inState = (leaf: string, state: string): boolean => leaf === state || leaf.startsWith(`${state}.`) || leaf.endsWith(`.${state}`);

/** Whether a row passes a filter; `text` is the row's search text (lower-cased). */
export function matchesRow(row: RecordRow, text: string, filter: RowFilter): boolean {
  if (filter.kind && !filter.kind.includes(row.kind)) return false;
  if (filter.tool !== undefined && row.tool !== filter.tool) return false;
  if (filter.state !== undefined && !row.state.split(', ').some((leaf) => inState(leaf, filter.state!))) return false;
  if (filter.text !== undefined && !text.includes(filter.text.toLowerCase())) return false;
  return true;
}

/** True when a filter narrows anything. */
export const isFiltering = (filter: RowFilter): boolean =>
  filter.kind !== undefined || filter.tool !== undefined || filter.state !== undefined || filter.text !== undefined;
