import type { RunSummary } from '../format/record.ts';
import type { AgentContext, AgentOutput, CallState } from '../../protocol/agent.ts';
import { requestedArguments } from '../../protocol/messages.ts';
import { persistedAgents } from './persistedAgents.ts';

interface PersistedAgentSnapshot {
  status: 'active' | 'done' | 'error' | 'stopped';
  value: unknown;
  context: Partial<AgentContext>;
  output?: AgentOutput;
  /** Of a machine that stopped with an error: the error, as the recorder keeps it. */
  error?: { name?: unknown; message?: unknown };
}

/** Why a machine that stopped with an error (an actor's error it does not handle) failed. */
export function machineErrorDetail(error: { name?: unknown; message?: unknown } | undefined): string {
  const name = typeof error?.name === 'string' && error.name !== 'Error' ? `${error.name}: ` : '';
  const message = typeof error?.message === 'string' && error.message.trim() ? error.message.trim() : 'no message was recorded';
  return `The agent machine stopped with an error: ${name}${message}`;
}

/** The calls waiting for a decision in an agent and in the agents it invokes, naming the invoked ones. */
function waitingIn(snapshot: PersistedAgentSnapshot): Array<ReturnType<typeof waitingEntry> & { actor?: string }> {
  return persistedAgents(snapshot).flatMap(({ snapshot: agent, path }) => {
    const context = (agent.context ?? {}) as Partial<AgentContext>;
    return (context.turn?.calls ?? [])
      .filter((call) => call.status === 'awaiting')
      .map((call) => (path === undefined ? waitingEntry(context, call) : { ...waitingEntry(context, call), actor: path }));
  });
}

function waitingEntry(context: Partial<AgentContext>, call: CallState) {
  const args = requestedArguments(context.messages, call.id);
  return {
    callId: call.id,
    tool: call.name,
    arguments: args ?? '',
    ...(call.argsHash ? { argsHash: call.argsHash } : {}),
    ...(call.policy ? { policy: call.policy } : {}),
    ...(call.note ? { note: call.note } : {}),
  };
}

/** The listing facts of a run (status, usage, what it waits on) read off a persisted snapshot. */
export function summarize(snapshot: PersistedAgentSnapshot): Partial<RunSummary> {
  const { context } = snapshot;
  const waitingOn = waitingIn(snapshot);
  const status: RunSummary['status'] =
    snapshot.status === 'done'
      ? (snapshot.output?.status ?? 'done')
      : snapshot.status === 'error'
        ? 'failed'
        : waitingOn.length > 0
          ? 'waiting'
          : 'running';
  return {
    status,
    steps: context.step ?? snapshot.output?.steps ?? 0,
    inputTokens: context.usage?.inputTokens ?? snapshot.output?.usage?.inputTokens ?? 0,
    outputTokens: context.usage?.outputTokens ?? snapshot.output?.usage?.outputTokens ?? 0,
    costUsd: context.costUsd ?? snapshot.output?.costUsd ?? 0,
    updatedAt: new Date().toISOString(),
    ...(waitingOn.length > 0 ? { waitingOn } : { waitingOn: undefined }),
    ...(snapshot.status === 'done' && snapshot.output ? { reason: `${snapshot.output.reason}: ${snapshot.output.detail}` } : {}),
    ...(snapshot.status === 'error' ? { reason: `error: ${machineErrorDetail(snapshot.error)}` } : {}),
  };
}
