import { randomUUID } from 'node:crypto';
import { UserError } from '../errors.ts';
import { makeRecord } from '../log/format/makeRecord.ts';
import { applyPatchSafe } from '../log/format/applyPatch.ts';
import { OperationSchema, RUN_FORMAT, type Json, type Operation, type RunHeader } from '../log/format/record.ts';
import { stateAt } from '../log/reads/reads.ts';
import { newRunSummary, type HistoryEntry, type RunStore } from '../log/stores/runStore.ts';
import { AgentContextSchema } from '../protocol/agentContext.ts';
import type { CallState } from '../protocol/agent.ts';
import { persistedAgents } from '../log/stores/persistedAgents.ts';
import { summarize } from '../log/stores/summarize.ts';
import { CorruptRecordError } from '../log/format/storageErrors.ts';
import { forkSpan } from '../telemetry/forkSpan.ts';
import type { TelemetryOptions } from '../telemetry/telemetryOptions.ts';

export interface ForkOptions {
  /** A JSON patch applied to the context at that point; paths are relative to the context, e.g. `/messages/3/content`. */
  edit?: Operation[];
  runId?: string;
  /**
   * Where the fork's first span goes (see `RunOptions.telemetry`): with an SDK registered, the fork is
   * a trace of its own, linked to its parent's, which every resume of the fork continues.
   */
  telemetry?: TelemetryOptions | false;
  /** Header labels of the fork that replace its parent's (a fork that starts a thread of its own names it here). */
  labels?: Record<string, string>;
}

type Snapshot = { context?: Record<string, Json> } & Record<string, Json>;

const EDIT_EXAMPLE = '[{"op":"replace","path":"/messages/3/content","value":"42"}]';

/** The edit as RFC 6902 operations, or a UserError naming the first one that is not. */
function parseEdit(edit: unknown, where: string): Operation[] {
  if (!Array.isArray(edit)) {
    throw new UserError(`The edit for the fork of ${where} must be a list of JSON patch operations, found ${JSON.stringify(edit) ?? typeof edit}. Example: ${EDIT_EXAMPLE}`);
  }
  return edit.map((op: unknown, index) => {
    const parsed = OperationSchema.safeParse(op);
    if (parsed.success) return parsed.data;
    const issue = parsed.error.issues[0]!;
    const field = issue.path.length ? ` at "${issue.path.join('.')}"` : '';
    throw new UserError(
      `The edit for the fork of ${where} has an invalid operation ${index} (${JSON.stringify(op)})${field}: ${issue.message}. ` +
        `Expected an RFC 6902 operation with "op" (add, remove, replace, move, copy or test) and a "path" starting with "/", for example ${EDIT_EXAMPLE}.`,
    );
  });
}

/** The context with the edit applied; an agent's context must keep the shape the runtime relies on. */
function editedContext(context: Record<string, Json>, edit: Operation[], where: string, show: string): Json {
  let edited: Json;
  try {
    edited = applyPatchSafe(context, edit);
  } catch (error) {
    throw new UserError(
      `The edit for the fork of ${where} does not apply to its context: ${(error as Error).message.replace(/\.$/, '')}. ` +
        `Paths are relative to the context, for example /messages/2/content; see \`${show}\` for the context at that record.`,
      { cause: error },
    );
  }
  if (!AgentContextSchema.safeParse(context).success) return edited;
  const checked = AgentContextSchema.safeParse(edited);
  if (checked.success) return edited;
  const issue = checked.error.issues[0]!;
  throw new UserError(
    `The edit for the fork of ${where} leaves the agent's context unusable: /${issue.path.join('/')}: ${issue.message} ` +
      `(found ${describeAt(edited, issue.path)}). Change the edit so that field keeps its type; see \`${show}\` for the context at that record.`,
  );
}

function describeAt(doc: Json, path: readonly PropertyKey[]): string {
  let node: unknown = doc;
  for (const key of path) node = typeof node === 'object' && node !== null ? (node as Record<PropertyKey, unknown>)[key] : undefined;
  return node === undefined ? 'nothing' : JSON.stringify(node).slice(0, 80);
}

/** The first tool call that is running at that record (between its TOOL_STARTED and TOOL_FINISHED), with the agent it belongs to. */
function runningCall(snapshot: Snapshot): RunningCall | undefined {
  for (const { snapshot: agent, path } of persistedAgents(snapshot)) {
    const calls = ((agent.context as { turn?: { calls?: CallState[] } } | undefined)?.turn?.calls ?? []);
    const call = calls.find((candidate) => candidate.status === 'running');
    if (call) return path === undefined ? { call } : { call, actor: path };
  }
  return undefined;
}

type RunningCall = { call: CallState; actor?: string };

const isEventOf = (entry: HistoryEntry, type: string, { call, actor }: RunningCall) =>
  entry.eventType === type && entry.event.callId === call.id && entry.meta?.actor === actor;

/** The record that started a call running at record `seq`. */
async function startOf(store: RunStore, runId: string, seq: number, running: RunningCall): Promise<HistoryEntry | undefined> {
  return (await store.readHistory(runId, { to: seq })).findLast((entry) => isEventOf(entry, 'TOOL_STARTED', running));
}

/**
 * The record a fork at `seq` can start from: `seq` itself, or, when a tool call is running there,
 * the record before that call started.
 */
export async function forkableAt(store: RunStore, runId: string, seq: number, state: unknown): Promise<number> {
  const running = runningCall(state as Snapshot);
  if (!running) return seq;
  const started = await startOf(store, runId, seq, running);
  return started ? Math.max(0, started.seq - 1) : seq;
}

/** Refuses a fork from the middle of a tool call: its resume would find a call that started and never finished. */
async function refuseRunningCall(store: RunStore, runId: string, seq: number, snapshot: Snapshot): Promise<void> {
  const running = runningCall(snapshot);
  if (!running) return;
  const { call, actor } = running;
  const started = await startOf(store, runId, seq, running);
  // Only a hint: records after the fork point may be damaged (the reason to fork from before them).
  const later = await store.readHistory(runId, { from: seq + 1 }).catch(() => []);
  const finished = later.find((entry) => isEventOf(entry, 'TOOL_FINISHED', running));
  const before = started ? `record ${started.seq - 1} (before the call started)` : 'an earlier record';
  const after = finished ? ` or record ${finished.seq} (after it finished)` : ' (the run has no record of the call finishing)';
  throw new UserError(
    `Run ${runId} record ${seq} is in the middle of tool call ${call.id} (${call.name}${actor ? `, in ${actor}` : ''}): ` +
      `it ${started ? `started at record ${started.seq} and ` : ''}had not finished, so the fork would hold a call whose outcome is unknown. ` +
      `Fork from ${before}${after} instead.`,
  );
}

/**
 * The module the store loads the parent's code from, which the fork keeps: a fork of a run started
 * here is started here, and a fork of an imported run is as untrusted as its parent. A parent whose
 * summary cannot be read (one reason to fork) passes on none.
 */
async function moduleOf(store: RunStore, runId: string): Promise<string | undefined> {
  try {
    return (await store.summary(runId)).agentModule;
  } catch (error) {
    if (error instanceof CorruptRecordError) return undefined;
    throw error;
  }
}

/**
 * Start a new run whose history begins at record `seq` of another, optionally with its context
 * edited ("what if the tool had returned this"). The parent is not touched; continue the fork with `resumeRun`.
 * Everything is checked before the fork is created, and a fork whose first record cannot be written is removed.
 * @example
 * const forkId = await forkRun(store, runId, 12, { edit: [{ op: 'replace', path: '/messages/4/content', value: '42' }] });
 * const result = await (await resumeRun(agent, forkId, { store })).result;
 */
export async function forkRun(store: RunStore, runId: string, seq: number, options: ForkOptions = {}): Promise<string> {
  const where = `run ${runId} at record ${seq}`;
  const edit = options.edit === undefined ? [] : parseEdit(options.edit, where);
  const header = await store.header(runId);
  const agentModule = await moduleOf(store, runId);
  const state = (await stateAt(store, runId, seq)) as Snapshot;
  if (!state.context || typeof state.context !== 'object') {
    throw new UserError(`Run ${runId} record ${seq} has no context to fork from.`);
  }
  await refuseRunningCall(store, runId, seq, state);
  const forkId = options.runId ?? randomUUID();
  const context = { ...state.context, runId: forkId };
  const snapshot = { ...state, context: edit.length ? editedContext(context, edit, where, `npx statecraft show ${runId} --at ${seq} --json`) : context } as Json;
  const now = new Date().toISOString();
  // A fork is a new run: written in this build's format whatever its parent's (the store seals its header),
  // and traced as a run of its own, linked to its parent's trace rather than a part of it.
  const { checksum: _parentChecksum, traceparent: parentTrace, ...inherited } = header;
  const traceparent = forkSpan({ forkId, agent: { name: header.agent.id, version: header.agent.version }, parent: { runId, seq, traceparent: parentTrace } }, options.telemetry);
  const labels = options.labels ? { ...inherited.labels, ...options.labels } : inherited.labels;
  const forkHeader: RunHeader = { ...inherited, ...(labels ? { labels } : {}), format: RUN_FORMAT, runId: forkId, parent: { runId, seq }, createdAt: now, ...(traceparent ? { traceparent } : {}) };
  const record = makeRecord({
    runId: forkId,
    seq: 0,
    event: { type: 'statecraft.forked', from: { runId, seq }, ...(edit.length ? { edit } : {}) },
    state: (snapshot as { value: Json }).value,
    snapshot,
    keyframe: true,
  });
  const facts = summarize(snapshot as never);
  // A fork that would run on is not running until something resumes it; one that waits for a decision, or ended, says so.
  const summary = { ...facts, ...(facts.status === 'running' ? { status: 'created' as const } : {}), lastSeq: 0 };
  await store.createRun(forkHeader, { ...newRunSummary(forkHeader), ...(agentModule ? { agentModule } : {}) });
  try {
    await store.append(forkId, [record], { expectedSeq: 0, summary });
  } catch (error) {
    // A run with no records could be neither resumed nor read: a fork that could not be written leaves nothing.
    await store.deleteRun(forkId);
    throw error;
  }
  return forkId;
}
