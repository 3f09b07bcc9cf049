import type { AnyActorRef } from 'xstate';
import type { AgentContext, AgentOutput } from '../protocol/agent.ts';
import { zeroUsage } from '../protocol/messages.ts';
import type { Agent } from './defineAgent.ts';
import type { RunEvent } from './runEvents.ts';

type Lifecycle = Extract<RunEvent, { type: 'agent.start' | 'agent.end' }>;

/** The name of the agent an invoked actor runs: each actor's `src` names it among the agents of the one that invokes it. */
function definedName(root: Agent, actor: AnyActorRef): string {
  const chain: AnyActorRef[] = [];
  for (let current: AnyActorRef | undefined = actor; current?._parent; current = current._parent) chain.unshift(current);
  let owner: Agent | undefined = root;
  for (const ref of chain) {
    const src = (ref as { src?: unknown }).src;
    owner = typeof src === 'string' ? owner?.agents[src] : undefined;
  }
  return owner?.name ?? actor.id;
}

/**
 * What a snapshot of an invoked agent (at `path`) tells listeners about its life: it started (its
 * first snapshot, also when a resumed run restores it in this process), or it ended.
 */
export function agentEvents(runId: string, root: Agent, actor: AnyActorRef, path: string, event: { type: string }, snapshot: { status?: string; context?: AgentContext; output?: AgentOutput }): Lifecycle[] {
  if (event.type === 'xstate.init') return [{ type: 'agent.start', runId, actor: path, agent: definedName(root, actor) }];
  if (snapshot.status !== 'done' && snapshot.status !== 'error') return [];
  const output = snapshot.output;
  const context = snapshot.context;
  return [
    {
      type: 'agent.end',
      runId,
      actor: path,
      agent: definedName(root, actor),
      status: snapshot.status === 'error' ? 'failed' : (output?.status ?? 'done'),
      steps: output?.steps ?? context?.step ?? 0,
      usage: output?.usage ?? context?.usage ?? zeroUsage(),
      costUsd: output?.costUsd ?? context?.costUsd ?? 0,
    },
  ];
}
