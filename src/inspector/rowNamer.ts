import type { Json } from '../log/format/record.ts';
import type { RunSummary } from '../log/format/record.ts';
import type { HistoryEntry } from '../log/stores/runStore.ts';
import { compactionWords } from '../runtime/compaction/compactionWords.ts';

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

/** What a resume does again after a crash, from its note's `repeats`. */
function repeats(value: unknown): string {
  const r = asObject(value);
  if (!r) return '';
  const parts: string[] = [];
  if (typeof r.modelCallOfStep === 'number') parts.push(`the model call of step ${r.modelCallOfStep} is asked again`);
  if (Array.isArray(r.toolCalls) && r.toolCalls.length) parts.push(`${r.toolCalls.join(', ')} had started and not finished`);
  return parts.length ? ` after a stop: ${parts.join('; ')}` : '';
}

/** How a run that has ended ended, said after its last record: "→ run halted: Token budget reached". */
export function endingOf(summary: Pick<RunSummary, 'status' | 'reason'>, label = ''): string {
  if (!['done', 'failed', 'halted', 'cancelled'].includes(summary.status)) return '';
  const detail = summary.reason?.replace(/^[a-z_]+: /, '').trim();
  const said = !detail || summary.status === 'done' || label.includes(detail);
  return ` → run ${summary.status}${said ? '' : `: ${clip(detail, 160)}`}`;
}

/**
 * Words for records, one run at a time and in order: a tool's start and finish events name their call
 * only, so the tool's name is taken from the model turn that asked for the call.
 */
export class RowNamer {
  readonly #tools = new Map<string, string>();

  /** The invoked agent the record being named belongs to ('' for the run's own agent). */
  #actor = '';

  row(entry: HistoryEntry): RecordRow {
    const base = { seq: entry.seq, time: entry.time, eventType: entry.eventType, state: stateText(entry.state) };
    this.#actor = typeof entry.meta?.actor === 'string' ? entry.meta.actor : '';
    const described = this.#describe(entry.event as Obj & { type: string }, entry);
    const durationMs = described.durationMs ?? entry.meta?.durationMs;
    // A model turn whose calls wait for a person says so: the wait has no record of its own.
    const waits = described.kind === 'model' && base.state.split(', ').some((leaf) => /(^|\.)awaitingApproval$/.test(leaf));
    const said = waits ? `${described.label} → waits for approval` : described.label;
    // An invoked agent's records say whose they are.
    const label = this.#actor ? `${this.#actor}: ${said}` : said;
    return { ...base, ...described, label, ...(typeof durationMs === 'number' ? { durationMs: Math.round(durationMs) } : {}) };
  }

  #toolOf(callId: unknown): string {
    return this.#tools.get(`${this.#actor}\0${String(callId)}`) ?? 'tool';
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
        return { kind: 'run', label: `Run resumed in process ${e.pid ?? '?'}${repeats(e.repeats)}` };
      case 'statecraft.forked': {
        const from = asObject(e.from);
        return { kind: 'run', label: `Forked from ${from?.runId ?? '?'} at record ${from?.seq ?? '?'}` };
      }
      case 'statecraft.model_swap': {
        const name = (info: unknown) => String(asObject(info)?.model ?? '?');
        return { kind: 'run', label: `Model changed on resume, from ${name(e.from)} to ${name(e.to)}` };
      }
      case 'statecraft.machine_changed':
        return { kind: 'run', label: 'Machine definition changed on resume' };
    }
    if (type === 'xstate.done.actor.callModel') {
      const output = asObject(e.output);
      const message = asObject(output?.message);
      const calls = Array.isArray(message?.toolCalls) ? message.toolCalls.map(asObject) : [];
      for (const c of calls) if (c && typeof c.id === 'string' && typeof c.name === 'string') this.#tools.set(`${this.#actor}\0${c.id}`, c.name);
      const names = [...new Set(calls.map((c) => String(c?.name)))];
      const said = typeof message?.content === 'string' && message.content ? clip(message.content.replace(/\s+/g, ' '), 140) : '';
      const what = names.length ? `Model asks for ${names.join(', ')}${said ? ` and says: ${said}` : ''}` : `Model answers: ${said || '(nothing)'}`;
      return { kind: 'model', label: `${what}${tokens(output?.usage ?? entry.meta?.usage)}`, ...(names.length === 1 ? { tool: names[0] } : {}) };
    }
    if (type === 'xstate.done.actor.executeTools') return { kind: 'tool', label: 'All tool calls finished' };
    if (type === 'xstate.done.actor.evaluateFitness') {
      const results = Array.isArray(e.output) ? e.output.map(asObject) : Object.values(asObject(e.output) ?? {}).map(asObject);
      const breached = results.filter((r) => r && r.ok === false).map((r) => String(r?.name));
      return { kind: 'fitness', label: breached.length ? `Fitness check: ${breached.join(', ')} breached` : 'Fitness check passed' };
    }
    if (type === 'xstate.done.actor.compactContext') return { kind: 'compaction', label: compactionWords(e.output) };
    if (/compact/i.test(type) && !type.startsWith('xstate.error.')) return { kind: 'compaction', label: `Context compacted` };
    if (type.startsWith('xstate.error.actor.')) {
      const actor = type.slice('xstate.error.actor.'.length);
      const message = asObject(e.error)?.message;
      return { kind: 'error', label: `${actor === 'callModel' ? 'Model call' : actor === 'executeTools' ? 'Tool calls' : actor} failed${message ? `: ${clip(String(message), 140)}` : ''}` };
    }
    if (type.startsWith('xstate.done.actor.')) return { kind: 'run', label: `${type.slice('xstate.done.actor.'.length)} finished` };
    // XState's other internal events, and events of a user's own machine, keep their type for the details view.
    if (type.startsWith('xstate.')) return { kind: 'other', label: 'Machine step (see the raw event)' };
    if (type.startsWith('statecraft.')) return { kind: 'run', label: type.slice('statecraft.'.length).replace(/[._]/g, ' ') };
    return { kind: 'other', label: `Event ${type}` };
  }
}
