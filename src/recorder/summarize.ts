import type { RunSummary } from '../log/record.ts';
import type { AgentContext, AgentOutput } from '../protocol/agent.ts';

interface PersistedAgentSnapshot {
  status: 'active' | 'done' | 'error' | 'stopped';
  value: unknown;
  context: Partial<AgentContext>;
  output?: AgentOutput;
}

/** The listing facts of a run (status, usage, what it waits on) read off a persisted snapshot. */
export function summarize(snapshot: PersistedAgentSnapshot): Partial<RunSummary> {
  const { context } = snapshot;
  const waiting = context.turn?.calls.filter((call) => call.status === 'awaiting') ?? [];
  const status: RunSummary['status'] =
    snapshot.status === 'done'
      ? (snapshot.output?.status ?? 'done')
      : snapshot.status === 'error'
        ? 'failed'
        : waiting.length > 0
          ? 'waiting'
          : 'running';
  return {
    status,
    steps: context.step ?? snapshot.output?.steps ?? 0,
    inputTokens: context.usage?.inputTokens ?? snapshot.output?.usage.inputTokens ?? 0,
    outputTokens: context.usage?.outputTokens ?? snapshot.output?.usage.outputTokens ?? 0,
    costUsd: context.costUsd ?? snapshot.output?.costUsd ?? 0,
    updatedAt: new Date().toISOString(),
    ...(waiting.length > 0 ? { waitingOn: waiting.map((call) => ({ callId: call.id, tool: call.name })) } : { waitingOn: undefined }),
    ...(snapshot.status === 'done' && snapshot.output ? { reason: `${snapshot.output.reason}: ${snapshot.output.detail}` } : {}),
  };
}
