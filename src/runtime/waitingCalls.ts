import type { AnyActorRef } from 'xstate';
import { UserError } from '../errors.ts';
import type { AgentContext, CallState } from '../protocol/agent.ts';
import { requestedArguments } from '../protocol/messages.ts';
import type { AgentEvent } from '../../machines/agentMachine.ts';
import type { Agent } from './defineAgent.ts';
import type { ApproveOptions } from './runOptions.ts';

/** A tool call waiting for a human decision, with the agent actor that holds it. */
export interface WaitingCall {
  call: CallState;
  /** The agent actor to send the decision to: the run's root, or an agent it invokes. */
  actor: AnyActorRef;
  /** That actor's agent: its toolbox checks edited arguments. */
  agent: Agent;
  /** Invoke ids from the root down to the actor (e.g. `researcher`); absent for the root. */
  path?: string;
  /** The call's arguments as the model sent them (JSON text). */
  requested: string;
}

interface AgentSnapshot {
  status?: string;
  context?: Partial<AgentContext>;
  children?: Record<string, AnyActorRef | undefined>;
  hasTag?(tag: string): boolean;
}

/**
 * The run's agent actor and every agent actor it invokes (named in its `agents`), parents first, each
 * with its agent, its snapshot and its invoke-id path (absent for the root).
 */
function* agentActors(root: AnyActorRef, agent: Agent): Generator<{ actor: AnyActorRef; owner: Agent; snapshot: AgentSnapshot; path?: string }> {
  const visit = function* (actor: AnyActorRef, owner: Agent, path: string | undefined): Generator<{ actor: AnyActorRef; owner: Agent; snapshot: AgentSnapshot; path?: string }> {
    const snapshot = actor.getSnapshot() as AgentSnapshot;
    yield path === undefined ? { actor, owner, snapshot } : { actor, owner, snapshot, path };
    for (const [id, child] of Object.entries(snapshot.children ?? {})) {
      const sub = child && typeof child.src === 'string' ? owner.agents[child.src] : undefined;
      if (sub) yield* visit(child!, sub, path === undefined ? id : `${path}/${id}`);
    }
  };
  yield* visit(root, agent, undefined);
}

/** The run's agent and the agents it invokes that are running with a deadline (`limits.deadlineAt`). */
export function agentDeadlines(root: AnyActorRef, agent: Agent): { actor: AnyActorRef; at: number }[] {
  const found: { actor: AnyActorRef; at: number }[] = [];
  for (const { actor, snapshot } of agentActors(root, agent)) {
    const at = snapshot.context?.limits?.deadlineAt;
    if (at !== undefined && snapshot.status === 'active') found.push({ actor, at });
  }
  return found;
}

/**
 * Calls waiting for a decision in the run's agent and in every agent it invokes, the root's first. A
 * composed run waits wherever one of its agents waits.
 */
export function waitingCalls(root: AnyActorRef, agent: Agent): WaitingCall[] {
  const found: WaitingCall[] = [];
  for (const { actor, owner, snapshot, path } of agentActors(root, agent)) {
    for (const call of snapshot.context?.turn?.calls ?? []) {
      if (call.status !== 'awaiting') continue;
      const requested = requestedArguments(snapshot.context?.messages, call.id) ?? '';
      found.push(path === undefined ? { call, actor, agent: owner, requested } : { call, actor, agent: owner, requested, path });
    }
  }
  return found;
}

/** Whether the run's agent or any agent it invokes is calling its model or running tools (tagged `busy`). */
export function anyBusy(root: AnyActorRef, agent: Agent): boolean {
  for (const { snapshot } of agentActors(root, agent)) if (snapshot.status === 'active' && snapshot.hasTag?.('busy')) return true;
  return false;
}

/** A waiting call as a decision is checked against it: live in a run, or as a run's summary records it. */
export interface DecisionTarget {
  id: string;
  name: string;
  argsHash?: string;
  /** The invoke path of the agent holding it; absent for the run's own agent. */
  path?: string;
}

/** Where a waiting call is, as people name it: `the run's own agent` or `agent "researcher"`. */
const whereIs = (target: DecisionTarget) => (target.path === undefined ? "the run's own agent" : `agent "${target.path}"`);

/**
 * The one of the `waiting` calls a decision names (`view` says which call each is); a UserError saying
 * what is wrong when `hash` names other arguments, when the id waits in several agents and `actor`
 * does not say which, or when it waits in another agent. `notWaiting` words the error when the id
 * waits nowhere. Used on a live run and, before one is resumed, on the calls its summary lists.
 */
export function decisionTarget<T>(
  runId: string,
  waiting: readonly T[],
  view: (candidate: T) => DecisionTarget,
  callId: string,
  options: { hash?: string; actor?: string },
  notWaiting: () => string,
): T {
  const { hash, actor } = options;
  const withId = waiting.filter((candidate) => view(candidate).id === callId);
  const matching = actor === undefined ? withId : withId.filter((candidate) => (view(candidate).path ?? '') === actor);
  const actorsOf = (candidates: readonly T[]) => candidates.map((candidate) => JSON.stringify(view(candidate).path ?? '')).join(' or ');
  if (matching.length > 1) {
    throw new UserError(
      `Run ${runId}: tool call ${callId} is waiting in more than one agent (${matching.map((candidate) => whereIs(view(candidate))).join(', ')}), so nothing was decided. ` +
        `Say which: actor: ${actorsOf(matching)} (--actor on the command line).`,
    );
  }
  const found = matching[0];
  if (found) {
    const target = view(found);
    if (hash !== undefined && hash !== target.argsHash) {
      throw new UserError(
        `Run ${runId}: the decision for ${callId} (${target.name}) names arguments hash ${hash}, but the call's arguments hash is ${target.argsHash}: ` +
          `the decision was made for other arguments, so nothing was decided. Look at the call again (\`npx statecraft show ${runId}\`) and decide on what it really asks.`,
      );
    }
    return found;
  }
  if (withId.length > 0) {
    throw new UserError(
      `Run ${runId}: tool call ${callId} is not waiting in ${actor ? `agent "${actor}"` : "the run's own agent"}; it waits in ${withId.map((candidate) => whereIs(view(candidate))).join(', ')}. ` +
        `Name that agent (actor: ${actorsOf(withId)}, --actor on the command line).`,
    );
  }
  throw new UserError(notWaiting());
}

const viewOf = ({ call, path }: WaitingCall): DecisionTarget => ({ id: call.id, name: call.name, ...(call.argsHash === undefined ? {} : { argsHash: call.argsHash }), ...(path === undefined ? {} : { path }) });

/**
 * The waiting call a decision names, in the run's agent or an agent it invokes (`actor` is an invoke
 * path as `pendingApprovals` lists it; '' names the run's own agent); see `decisionTarget`.
 */
export function awaitingCall(runId: string, root: AnyActorRef, agent: Agent, callId: string, options: { hash?: string; actor?: string } = {}): WaitingCall {
  const waiting = waitingCalls(root, agent);
  return decisionTarget(runId, waiting, viewOf, callId, options, () => {
    const context = (root.getSnapshot() as { context?: Partial<AgentContext> }).context;
    const known = context?.turn?.calls.find((candidate) => candidate.id === callId);
    return known
      ? `Run ${runId}: tool call ${callId} (${known.name}) is not waiting for approval; its status is "${known.status}"${known.decidedBy ? ` (decided by ${known.decidedBy})` : ''}.`
      : `Run ${runId}: no tool call ${callId} in the current turn. ` +
          (waiting.length ? `Calls waiting for approval: ${waiting.map(({ call, path }) => `${call.id} (${call.name}${path === undefined ? '' : `, in ${path}`})`).join(', ')}.` : 'No call is waiting for approval.');
  });
}

/** Invoke ids from the root down to a child state machine actor, e.g. `researcher`; undefined for other actors. */
export function childPath(actor: AnyActorRef): string | undefined {
  if (!(actor as { logic?: { root?: unknown } }).logic?.root) return undefined;
  const ids: string[] = [];
  for (let current: AnyActorRef | undefined = actor; current?._parent; current = current._parent) ids.unshift(current.id);
  return ids.join('/');
}

/**
 * The APPROVE event for a waiting call and the agent actor to send it to; edited arguments are
 * validated against the tool's schema first, and nothing is approved when they fail.
 */
export function approval(runId: string, root: AnyActorRef, rootAgent: Agent, callId: string, options: ApproveOptions): { actor: AnyActorRef; event: AgentEvent } {
  const { call, actor, agent } = awaitingCall(runId, root, rootAgent, callId, { hash: options.argsHash, actor: options.actor });
  let edited: string | undefined;
  if (options.arguments !== undefined) {
    edited = typeof options.arguments === 'string' ? options.arguments : JSON.stringify(options.arguments);
    const checked = agent.toolbox.validateCall({ id: callId, name: call.name, arguments: edited });
    if (!checked.ok) throw new UserError(`Run ${runId}: the edited arguments for ${callId} (${call.name}) are not valid, so nothing was approved.\n${checked.message}`);
  }
  return {
    actor,
    event: {
      type: 'APPROVE',
      callId,
      by: options.by ?? 'user',
      ...(options.argsHash ? { argsHash: options.argsHash } : {}),
      ...(edited === undefined ? {} : { arguments: edited }),
      ...(options.always ? { always: true } : {}),
    },
  };
}
