import { UserError } from '../errors.ts';
import { ENDED_STATUSES, type RunSummary } from '../log/format/record.ts';
import { RunNotFoundError } from '../log/format/storageErrors.ts';
import { stateAt } from '../log/reads/reads.ts';
import { THREAD_LABEL, threadOfHeader, type ListedRun } from '../log/stores/listing.ts';
import type { RunStore } from '../log/stores/runStore.ts';
import type { Message } from '../protocol/messages.ts';
import { forkRun } from './forkRun.ts';

/** The header label that names the run of the thread a run continues from. */
export const PREVIOUS_LABEL = 'statecraft.thread.previous';

/** A conversation thread in a store: its id, and its tenant's (none for runs started without one). */
export interface ThreadRef {
  thread: string;
  tenant?: string | undefined;
}

/** One thread as `listThreads` lists it: how many runs, and its latest run. */
export interface ThreadSummary {
  thread: string;
  tenant?: string;
  runs: number;
  lastRunId: string;
  lastStatus: RunSummary['status'];
  agentId: string;
  /** When the latest run last changed. */
  updatedAt: string;
}

const UNFINISHED: RunSummary['status'][] = ['created', 'queued', 'running', 'waiting'];

const named = ({ thread, tenant }: ThreadRef) => `Thread "${thread}"${tenant ? ` of tenant "${tenant}"` : ''}`;

/** What to do about a thread's run that has not ended, before the thread can go on. */
function unfinishedError(ref: ThreadRef, run: RunSummary): UserError {
  const id = run.runId;
  const what =
    run.status === 'waiting'
      ? `is waiting for decisions on its tool calls: approve or reject them (npx statecraft approve ${id} / reject ${id}), or cancel it (npx statecraft cancel ${id})`
      : run.status === 'running'
        ? `is still running${run.owner ? ` (in process ${run.owner.pid} on ${run.owner.host})` : ''}: wait for it to end, or cancel it (npx statecraft cancel ${id}); a run whose process is gone is finished with npx statecraft resume ${id}`
        : `has not started (${run.status}): start it with npx statecraft resume ${id}, or delete it (npx statecraft delete ${id})`;
  return new UserError(`${named(ref)} cannot go on: its run ${id} ${what}. Then start the thread's next run.`);
}

/**
 * The messages a thread's next run starts from, taken from the context its last run ended with: the
 * leading system message (that run's instructions, which the next run brings anew) left out, and any
 * tool call without a result (a run that ended while calls waited) with it, as a model refuses them.
 */
export function continuedMessages(messages: readonly Message[]): Message[] {
  const rest = messages[0]?.role === 'system' ? messages.slice(1) : messages;
  const answered = new Set(rest.flatMap((message) => (message.role === 'tool' ? [message.toolCallId] : [])));
  const asked = new Set(rest.flatMap((message) => (message.role === 'assistant' ? (message.toolCalls ?? []).map((call) => call.id) : [])));
  const out: Message[] = [];
  for (const message of rest) {
    if (message.role === 'tool' && !asked.has(message.toolCallId)) continue;
    if (message.role === 'assistant' && message.toolCalls?.length) {
      const calls = message.toolCalls.filter((call) => answered.has(call.id));
      if (calls.length === message.toolCalls.length) out.push(message);
      else if (calls.length) out.push({ ...message, toolCalls: calls });
      else if (message.content) out.push({ role: 'assistant', content: message.content });
      continue;
    }
    out.push(message);
  }
  return out;
}

/**
 * Where a thread stands for its next run: the last run that ended (none for a thread that has no
 * run yet) and the messages the next run starts from. A thread whose run has not ended is refused,
 * naming the run and what to do. Only runs of the same tenant are read.
 */
export async function threadHistory(store: RunStore, ref: ThreadRef): Promise<{ previous?: ListedRun; history: Message[] }> {
  const scope = { thread: ref.thread, tenant: ref.tenant ?? null };
  const [unfinished] = await store.listRuns({ ...scope, status: UNFINISHED, limit: 1 });
  if (unfinished) throw unfinishedError(ref, unfinished);
  const [previous] = await store.listRuns({ ...scope, status: [...ENDED_STATUSES], limit: 1 });
  if (!previous) return { history: [] };
  const state = (await stateAt(store, previous.runId, previous.lastSeq)) as { context?: { messages?: Message[] } };
  const messages = state.context?.messages;
  if (!Array.isArray(messages)) {
    throw new UserError(`${named(ref)} cannot go on from run ${previous.runId}: its last record (${previous.lastSeq}) holds no messages. Fork the thread at an earlier run (npx statecraft fork <run> --thread NEW).`);
  }
  return { previous, history: continuedMessages(messages) };
}

/** The runs of a thread, oldest first. */
export async function threadRuns(store: RunStore, ref: ThreadRef): Promise<ListedRun[]> {
  const runs = await store.listRuns({ thread: ref.thread, tenant: ref.tenant ?? null });
  return runs.sort((a, b) => Date.parse(a.createdAt) - Date.parse(b.createdAt) || (a.runId < b.runId ? -1 : 1));
}

/** The threads of a store, the latest active first; `tenant` keeps to one tenant's (`null`: threads of no tenant). */
export async function listThreads(store: RunStore, options: { tenant?: string | null; limit?: number } = {}): Promise<ThreadSummary[]> {
  const runs = await store.listRuns({ thread: true, ...(options.tenant === undefined ? {} : { tenant: options.tenant }) });
  const threads = new Map<string, ThreadSummary>();
  // Newest first: the first run seen of a thread is its latest.
  for (const run of runs) {
    const key = JSON.stringify([run.tenant ?? null, run.thread]);
    const known = threads.get(key);
    if (known) known.runs++;
    else {
      threads.set(key, {
        thread: run.thread!, ...(run.tenant ? { tenant: run.tenant } : {}),
        runs: 1, lastRunId: run.runId, lastStatus: run.status, agentId: run.agentId, updatedAt: run.updatedAt,
      });
    }
  }
  const list = [...threads.values()];
  return options.limit === undefined ? list : list.slice(0, options.limit);
}

/** Where and how `forkThread` forks. */
export interface ForkThreadOptions {
  /** The run to fork at: the new thread goes on from the end of this run. */
  atRun: string;
  /** The new thread's id; it must have no runs yet. */
  newThread: string;
  /** The thread `atRun` must belong to (checked when given). */
  thread?: string;
  /** The tenant both threads belong to; a run of another tenant is answered as one that does not exist. */
  tenant?: string;
}

/**
 * Start a new thread from the end of any ended run of another: its first run is a fork of that run
 * at its last record, so the next run of the new thread continues from that run's messages. The
 * thread it was forked from is not touched. Returns the fork's run id.
 * @example
 * await forkThread(store, { atRun: firstRunId, newThread: 'support-42-b' });
 * await runAgent(agent, 'Try the other plan', { store, thread: 'support-42-b' });
 */
export async function forkThread(store: RunStore, options: ForkThreadOptions): Promise<string> {
  const { atRun, newThread } = options;
  const header = await store.header(atRun);
  const labelled = threadOfHeader(header);
  if (labelled.tenant !== (options.tenant ?? null)) throw new RunNotFoundError(atRun);
  if (options.thread !== undefined && labelled.thread !== options.thread) {
    throw new UserError(`Run ${atRun} belongs to ${labelled.thread ? `thread "${labelled.thread}"` : 'no thread'}, not "${options.thread}": fork the thread at one of its own runs (npx statecraft threads show ${options.thread}).`);
  }
  const summary = await store.summary(atRun);
  if (!ENDED_STATUSES.includes(summary.status)) {
    throw new UserError(`Run ${atRun} has not ended (${summary.status}): a thread is forked at the end of a run. Let it end (or cancel it), or fork the run at a record with npx statecraft fork ${atRun} --at SEQ.`);
  }
  const ref = { thread: newThread, tenant: options.tenant };
  const [taken] = await store.listRuns({ thread: newThread, tenant: options.tenant ?? null, limit: 1 });
  if (taken) throw new UserError(`${named(ref)} exists already (its latest run is ${taken.runId}): fork into a thread id that has no runs.`);
  return forkRun(store, atRun, summary.lastSeq, { labels: { [THREAD_LABEL]: newThread, [PREVIOUS_LABEL]: atRun } });
}
