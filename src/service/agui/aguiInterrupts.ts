import type { Decision } from '../execution/RunExecutor.ts';
import { ProblemError } from '../http/problem.ts';
import type { ResumeEntry } from './aguiInput.ts';

/** A call a run waits on, as its summary lists it. */
export interface WaitingCall {
  callId: string;
  tool: string;
  arguments?: string;
  argsHash?: string;
  actor?: string;
}

/** Where an interrupt points: a run, a call, and the invoked agent holding it when it is not the run's own. */
export interface InterruptTarget {
  runId: string;
  callId: string;
  actor?: string;
}

/** An interrupt's id names the run and the call (and the agent holding it), so that a resume entry finds them. */
export function interruptId(runId: string, call: Pick<WaitingCall, 'callId' | 'actor'>): string {
  return [runId, call.callId, ...(call.actor === undefined ? [] : [call.actor])].map(encodeURIComponent).join('/');
}

export function parseInterruptId(id: string): InterruptTarget {
  const parts = id.split('/');
  try {
    const [runId, callId, actor] = parts.map(decodeURIComponent);
    if ((parts.length === 2 || parts.length === 3) && runId && callId) return { runId, callId, ...(actor ? { actor } : {}) };
  } catch {
    // answered below
  }
  throw new ProblemError(400, 'bad-interrupt-id', 'Bad interrupt id',
    `The resume entry names interrupt "${id.slice(0, 200)}", which is not one this service gave: answer the ids of the interrupts in the RUN_FINISHED that paused the run.`);
}

/** The AG-UI interrupts of the calls a run waits on: one per call, with what a person needs to decide it. */
export function interruptsOf(runId: string, waiting: readonly WaitingCall[]) {
  return waiting.map((call) => ({
    id: interruptId(runId, call),
    reason: 'tool_approval',
    message: `The agent${call.actor ? ` ${call.actor}` : ''} asks to run ${call.tool} with ${call.arguments ?? 'no arguments'}: approve or reject it.`,
    // A call of an invoked agent was never streamed as a tool call of this run.
    ...(call.actor === undefined ? { toolCallId: call.callId } : {}),
    responseSchema: {
      type: 'object',
      required: ['approved', 'argsHash'],
      properties: {
        approved: { type: 'boolean' },
        argsHash: { type: 'string', const: call.argsHash ?? '' },
        by: { type: 'string', description: 'Who decides' },
        reason: { type: 'string', description: 'Why it is rejected; the model is told' },
      },
    },
    metadata: { runId, callId: call.callId, tool: call.tool, ...(call.arguments === undefined ? {} : { arguments: call.arguments }), argsHash: call.argsHash ?? '', ...(call.actor === undefined ? {} : { actor: call.actor }) },
  }));
}

/**
 * The decisions that resume entries ask of the calls a run waits on, all checked before any is made:
 * every entry names a waiting call of the run, and every approval the arguments hash of that call. A
 * cancelled interrupt rejects its call (a rejection runs nothing, so it needs no hash).
 */
export function decisionsOf(runId: string, status: string, waiting: readonly WaitingCall[], entries: readonly ResumeEntry[]): Decision[] {
  const twice = entries.find((entry, i) => entries.findIndex((other) => other.interruptId === entry.interruptId) !== i);
  if (twice) throw new ProblemError(400, 'interrupt-answered-twice', 'Interrupt answered twice', `The resume entries answer interrupt ${twice.interruptId} more than once: answer each interrupt once.`);
  return entries.map((entry) => {
    const target = parseInterruptId(entry.interruptId);
    const call = waiting.find((candidate) => candidate.callId === target.callId && candidate.actor === target.actor);
    if (!call) {
      const list = waiting.map((candidate) => interruptId(runId, candidate)).join(', ');
      throw new ProblemError(409, 'interrupt-not-pending', 'Interrupt not pending',
        `Interrupt ${entry.interruptId} is not waiting for an answer: run ${runId} is ${status}${list ? ` and waits on ${list}` : ''}. Answer the interrupts of the latest RUN_FINISHED.`);
    }
    const by = entry.payload?.by ?? 'an AG-UI client';
    const base = { callId: call.callId, argsHash: call.argsHash ?? '', by, ...(call.actor === undefined ? {} : { actor: call.actor }) };
    if (entry.status === 'cancelled') return { ...base, kind: 'reject', reason: `The approval request was cancelled by ${by}.` };
    const answer = entry.payload!;
    if (answer.argsHash !== call.argsHash) {
      throw new ProblemError(422, 'arguments-changed', 'Arguments changed',
        `Run ${runId}: the answer to interrupt ${entry.interruptId} (${call.tool}) names arguments hash ${answer.argsHash}, but the call's arguments hash is ${call.argsHash}: the decision was made for other arguments, so nothing was decided. Show the call again and decide on what it really asks.`);
    }
    return answer.approved ? { ...base, kind: 'approve' } : { ...base, kind: 'reject', reason: answer.reason ?? `Rejected by ${by}.` };
  });
}
