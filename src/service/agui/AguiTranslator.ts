import { randomUUID } from 'node:crypto';
import type { Json, Operation, RunSummary } from '../../log/format/record.ts';
import type { RunEvent } from '../../runtime/runEvents.ts';
import type { interruptsOf } from './aguiInterrupts.ts';

/** An AG-UI event as it goes on the wire: plain JSON, checked against @ag-ui/core's schemas in the tests. */
export type AguiEvent = { type: string } & Record<string, unknown>;

const CONTEXT = '/context';
const MESSAGES = '/context/messages';
const MESSAGE_ADDED = /^\/context\/messages\/(\d+|-)$/;

const under = (path: string, root: string) => path === root || path.startsWith(`${root}/`);

type Place = 'state' | 'messages' | 'outside';
const placeOf = (path: string): Place => (under(path, MESSAGES) ? 'messages' : under(path, CONTEXT) ? 'state' : 'outside');

/** The AG-UI state of a run: its context, less the messages (they travel as message events). */
export function stateOf(snapshot: Json): Json {
  const context = snapshot !== null && typeof snapshot === 'object' && !Array.isArray(snapshot) ? snapshot.context : undefined;
  if (context === null || typeof context !== 'object' || Array.isArray(context)) return {};
  const { messages: _messages, ...state } = context;
  return state;
}

/**
 * A record's patch as a patch of the AG-UI state: operations on the context move to the root, those on
 * the messages or outside the context are left out. Undefined when an operation crosses those bounds
 * (the context replaced whole, a move out of the messages): the state is then sent whole again.
 */
export function stateDeltaOf(patch: readonly Operation[]): Operation[] | undefined {
  const delta: Operation[] = [];
  for (const op of patch) {
    const source = op.op === 'move' || op.op === 'copy' ? op.from : undefined;
    if (op.path === CONTEXT || source === CONTEXT) return undefined;
    const to = placeOf(op.path);
    if (source !== undefined && placeOf(source) !== to) return undefined;
    if (to !== 'state') continue;
    delta.push({ ...op, path: op.path.slice(CONTEXT.length), ...(source === undefined ? {} : { from: source.slice(CONTEXT.length) }) } as Operation);
  }
  return delta;
}

interface RecordedMessage {
  role?: string;
  content?: unknown;
  toolCalls?: { id: string; name: string; arguments: string }[];
  toolCallId?: string;
}

/**
 * Turns one run's records and live events into AG-UI events, in order: text streamed as it comes
 * (or whole, from the record, when it did not stream here), tool calls and their results from the
 * messages the records add, and the state as a snapshot then deltas of the records' own patches.
 */
export class AguiTranslator {
  /** The text message streaming now, and its text so far. */
  #open: { id: string; text: string } | undefined;
  #output: unknown;
  /** The last record the run said it wrote, and the last one sent; text waits while the one is ahead of the other. */
  #recorded = -1;
  #processed = -1;
  /** Text held back, each with the last record the run had written when it came. */
  #held: { event: RunEvent; after: number }[] = [];

  constructor(
    private readonly ids: { threadId: string; runId: string; statecraftRunId: string },
    private readonly emit: (event: AguiEvent) => void,
  ) {}

  #send(type: string, fields: Record<string, unknown> = {}): void {
    this.emit({ type, timestamp: Date.now(), ...fields });
  }

  started(): void {
    this.#send('RUN_STARTED', { threadId: this.ids.threadId, runId: this.ids.runId, protocolVersion: '1.0', metadata: { statecraftRunId: this.ids.statecraftRunId } });
  }

  /** The state at record `seq`, sent whole. */
  snapshot(snapshot: Json, seq: number): void {
    this.#send('STATE_SNAPSHOT', { snapshot: stateOf(snapshot) });
    this.#caughtUp(seq);
  }

  /**
   * A live event of the run. Its own agent's streamed text is sent as it comes, but not before the
   * records the run wrote ahead of it (a tool's result comes before the answer that reads it); an
   * invoked agent's text is not this run's message.
   */
  live(event: RunEvent): void {
    if (event.actor !== undefined) return;
    if (event.type === 'state' && event.record) this.#recorded = Math.max(this.#recorded, event.record.seq);
    if (event.type !== 'delta' && event.type !== 'model.retry') return;
    if (this.#processed < this.#recorded || this.#held.length) this.#held.push({ event, after: this.#recorded });
    else this.#text(event);
  }

  #caughtUp(seq: number): void {
    this.#processed = seq;
    if (this.#processed >= this.#recorded) this.#release(seq);
  }

  /** Sends the text held back that came after record `seq` was written, or before. */
  #release(seq: number): void {
    while (this.#held.length && this.#held[0]!.after <= seq) this.#text(this.#held.shift()!.event);
  }

  #text(event: RunEvent): void {
    if (event.type === 'model.retry') this.#close();
    if (event.type !== 'delta' || event.text === '') return;
    if (!this.#open) {
      this.#open = { id: randomUUID(), text: '' };
      this.#send('TEXT_MESSAGE_START', { messageId: this.#open.id, role: 'assistant' });
    }
    this.#open.text += event.text;
    this.#send('TEXT_MESSAGE_CONTENT', { messageId: this.#open.id, delta: event.text });
  }

  /** A record's patch; answers `resnapshot` when the state must be sent whole (see stateDeltaOf). */
  record(seq: number, patch: readonly Operation[]): 'resnapshot' | undefined {
    for (const op of patch) {
      if (op.op === 'add' && MESSAGE_ADDED.test(op.path)) this.#message(op.value as RecordedMessage, seq);
      if ((op.op === 'add' || op.op === 'replace') && op.path === `${CONTEXT}/output`) this.#output = op.value;
    }
    const delta = stateDeltaOf(patch);
    if (delta?.length) this.#send('STATE_DELTA', { delta });
    this.#caughtUp(seq);
    return delta ? undefined : 'resnapshot';
  }

  #close(): string | undefined {
    const open = this.#open;
    if (open) this.#send('TEXT_MESSAGE_END', { messageId: open.id });
    this.#open = undefined;
    return open?.id;
  }

  #message(message: RecordedMessage, seq: number): void {
    if (message.role === 'tool' && typeof message.toolCallId === 'string') {
      this.#send('TOOL_CALL_RESULT', { messageId: randomUUID(), toolCallId: message.toolCallId, content: typeof message.content === 'string' ? message.content : JSON.stringify(message.content ?? ''), role: 'tool' });
      return;
    }
    if (message.role !== 'assistant') return;
    // Text that streamed before this answer was recorded is its beginning.
    this.#release(seq - 1);
    const text = typeof message.content === 'string' ? message.content : '';
    let messageId: string;
    if (this.#open) {
      // What streamed is the answer's beginning; the rest, if any, comes from the record.
      const rest = text.startsWith(this.#open.text) ? text.slice(this.#open.text.length) : '';
      if (rest) this.#send('TEXT_MESSAGE_CONTENT', { messageId: this.#open.id, delta: rest });
      messageId = this.#close()!;
    } else {
      messageId = randomUUID();
      if (text) {
        this.#send('TEXT_MESSAGE_START', { messageId, role: 'assistant' });
        this.#send('TEXT_MESSAGE_CONTENT', { messageId, delta: text });
        this.#send('TEXT_MESSAGE_END', { messageId });
      }
    }
    for (const call of message.toolCalls ?? []) {
      this.#send('TOOL_CALL_START', { toolCallId: call.id, toolCallName: call.name, parentMessageId: messageId });
      if (call.arguments) this.#send('TOOL_CALL_ARGS', { toolCallId: call.id, delta: call.arguments });
      this.#send('TOOL_CALL_END', { toolCallId: call.id });
    }
  }

  #finished(fields: Record<string, unknown>): void {
    this.#release(Number.MAX_SAFE_INTEGER);
    this.#close();
    this.#send('RUN_FINISHED', { threadId: this.ids.threadId, runId: this.ids.runId, metadata: { statecraftRunId: this.ids.statecraftRunId }, ...fields });
  }

  /** The run ended: RUN_FINISHED when it completed or was cancelled, RUN_ERROR when it failed or was halted. */
  ended(summary: RunSummary, usage: Record<string, number>[]): void {
    const used = usage.length ? { usage } : {};
    if (summary.status === 'done') this.#finished({ outcome: { type: 'success' }, ...(this.#output === undefined || this.#output === null ? {} : { result: this.#output }), ...used });
    else if (summary.status === 'cancelled') this.#finished({ outcome: { type: 'cancelled' }, ...used });
    else this.failed(`Run ${summary.runId} ${summary.status}${summary.reason ? `: ${summary.reason}` : '.'}`, summary.status, usage);
  }

  /** The run waits for people: RUN_FINISHED whose outcome lists what they are asked. */
  interrupted(interrupts: ReturnType<typeof interruptsOf>, usage: Record<string, number>[]): void {
    this.#finished({ outcome: { type: 'interrupt', interrupts }, ...(usage.length ? { usage } : {}) });
  }

  failed(message: string, code: string, usage: Record<string, number>[] = []): void {
    this.#release(Number.MAX_SAFE_INTEGER);
    this.#close();
    this.#send('RUN_ERROR', { message, code, metadata: { statecraftRunId: this.ids.statecraftRunId }, ...(usage.length ? { usage } : {}) });
  }
}
