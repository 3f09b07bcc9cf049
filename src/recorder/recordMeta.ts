import type { RunRecord } from '../log/format/record.ts';
import type { ModelTurn } from '../protocol/agent.ts';

type Event = { type: string } & Record<string, unknown>;

/** What a record says about the work behind its event: a model answer's model, tokens, time and wait for rate limits, a tool's time. */
export function metaOf(event: Event): RunRecord['meta'] | undefined {
  if (event.type === 'TOOL_FINISHED') {
    const durationMs = (event.outcome as { durationMs?: unknown } | undefined)?.durationMs;
    return typeof durationMs === 'number' ? { durationMs: Math.round(durationMs) } : undefined;
  }
  if (!event.type.startsWith('xstate.done.actor.')) return undefined;
  const turn = event.output as Partial<ModelTurn> | undefined;
  if (typeof turn?.model !== 'string' || typeof turn.usage !== 'object' || turn.usage === null) return undefined;
  const { inputTokens, outputTokens } = turn.usage;
  return {
    model: turn.model,
    usage: { inputTokens, outputTokens },
    ...(typeof turn.durationMs === 'number' ? { durationMs: turn.durationMs } : {}),
    ...(typeof turn.waitedMs === 'number' ? { waitedMs: turn.waitedMs } : {}),
  };
}
