import type { AnyActorRef } from 'xstate';
import type { AgentContext, CallState } from '../protocol/agent.ts';
import type { Agent } from './defineAgent.ts';

/** A tool call waiting for a human decision, with the agent actor that holds it. */
export interface WaitingCall {
  call: CallState;
  /** The agent actor to send the decision to: the run's root, or an agent it invokes. */
  actor: AnyActorRef;
  /** That actor's agent: its toolbox checks edited arguments. */
  agent: Agent;
  /** Invoke ids from the root down to the actor (e.g. `researcher`); absent for the root. */
  path?: string;
}

/**
 * Calls waiting for a decision in the run's agent and in every agent it invokes (named in its
 * `agents`), the root's first. A composed run waits wherever one of its agents waits.
 */
export function waitingCalls(root: AnyActorRef, agent: Agent): WaitingCall[] {
  const found: WaitingCall[] = [];
  const visit = (actor: AnyActorRef, owner: Agent, path: string | undefined): void => {
    const snapshot = actor.getSnapshot() as { context?: Partial<AgentContext>; children?: Record<string, AnyActorRef | undefined> };
    for (const call of snapshot.context?.turn?.calls ?? []) {
      if (call.status === 'awaiting') found.push(path === undefined ? { call, actor, agent: owner } : { call, actor, agent: owner, path });
    }
    for (const [id, child] of Object.entries(snapshot.children ?? {})) {
      const sub = child && typeof child.src === 'string' ? owner.agents[child.src] : undefined;
      if (sub) visit(child!, sub, path === undefined ? id : `${path}/${id}`);
    }
  };
  visit(root, agent, undefined);
  return found;
}
