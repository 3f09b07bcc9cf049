import type { AgentContext } from '../protocol/agent.ts';
import type { RunEvent } from './runEvents.ts';

type Decided = Extract<RunEvent, { type: 'tool.decided' }>;

/** An error message on one line, cut to `max` characters: for progress lines and events. */
export function oneLine(text: string, max = 200): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length <= max ? line : `${line.slice(0, max - 1)}…`;
}

/**
 * The decisions an approval event made in an agent, read off the agent's context after it: the call
 * an APPROVE or REJECT names, or every call an expired deadline decided. `reported` holds the keys of
 * the decisions already told, so each is told once.
 */
export function decisionEvents(runId: string, event: { type: string; callId?: unknown }, context: AgentContext | undefined, reported: Set<string>, actor?: string): Decided[] {
  const turn = context?.turn;
  if (!turn) return [];
  const named = event.type === 'APPROVE' || event.type === 'REJECT';
  if (!named && event.type !== 'APPROVAL_EXPIRED') return [];
  const decided: Decided[] = [];
  for (const call of turn.calls) {
    if (named ? call.id !== event.callId : call.decidedBy !== 'approval deadline') continue;
    if (call.status !== 'approved' && call.status !== 'rejected') continue;
    const key = `${actor ?? ''}\u0000${turn.step}\u0000${call.id}`;
    if (reported.has(key)) continue;
    reported.add(key);
    decided.push({
      type: 'tool.decided',
      runId,
      callId: call.id,
      tool: call.name,
      decision: call.status,
      by: call.decidedBy ?? 'user',
      ...(call.status === 'rejected' && call.note ? { reason: call.note } : {}),
      ...(actor === undefined ? {} : { actor }),
    });
  }
  return decided;
}
