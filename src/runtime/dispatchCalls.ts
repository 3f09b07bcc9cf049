import { hash } from 'node:crypto';
import { evaluatePolicies, missingScopes, type Policy } from '../policy/policy.ts';
import type { AgentContext, CallState } from '../protocol/agent.ts';
import type { AssistantMessage } from '../protocol/messages.ts';
import type { Agent } from './defineAgent.ts';

/** Short hash of a call's argument text; approvals name it so they cannot apply to other arguments. */
export const argsHash = (text: string) => hash('sha256', text).slice(0, 16);

export function lastAssistant(context: AgentContext): AssistantMessage {
  for (let i = context.messages.length - 1; i >= 0; i--) {
    const message = context.messages[i]!;
    if (message.role === 'assistant') return message;
  }
  throw new Error(`Run ${context.runId} has no assistant message to dispatch.`);
}

/**
 * Decide every new call of the turn: invalid (bad name, JSON or arguments), denied (scopes or
 * policy), awaiting a human, or ready to run. Each call records the policy that applied.
 */
export function dispatchCalls(agent: Agent, context: AgentContext): Partial<AgentContext> {
  if (!context.turn) return {};
  const calls = new Map(lastAssistant(context).toolCalls?.map((call) => [call.id, call]));
  const subject = { agent: { id: agent.name, version: agent.version, grants: agent.grants } };
  const decided = context.turn.calls.map((state): CallState => {
    if (state.status !== 'ready') return state;
    const call = calls.get(state.id)!;
    const hash = argsHash(call.arguments);
    const checked = agent.toolbox.validateCall(call);
    if (!checked.ok) return { ...state, argsHash: hash, status: 'invalid', note: checked.message };
    const missing = missingScopes(checked.tool.scopes, agent.grants);
    if (missing.length) {
      const reason = `agent "${agent.name}" is not granted ${missing.map((s) => `"${s}"`).join(', ')}, which tool ${checked.tool.name} needs`;
      return {
        ...state,
        argsHash: hash,
        status: 'denied',
        policy: { decision: 'deny', source: 'scopes', reason },
        note: `Tool call ${state.id} was denied: ${reason}. Do not call it again; use the tools you were offered.`,
      };
    }
    const policies: { source: string; policy: Policy }[] = [];
    if (checked.tool.needsApproval) policies.push({ source: `tool ${checked.tool.name}`, policy: 'ask' });
    if (checked.tool.policy) policies.push({ source: `tool ${checked.tool.name}`, policy: checked.tool.policy as Policy });
    if (agent.policies['*']) policies.push({ source: `agent ${agent.name} (all tools)`, policy: agent.policies['*'] });
    if (agent.policies[checked.tool.name]) policies.push({ source: `agent ${agent.name}`, policy: agent.policies[checked.tool.name]! });
    let policy = evaluatePolicies(policies, checked.args, { ...subject, tool: checked.tool.name });
    if (policy.decision === 'ask' && context.alwaysApprove.includes(checked.tool.name)) {
      policy = { decision: 'allow', source: 'always approved in this run' };
    }
    if (policy.decision === 'deny') {
      const why = policy.reason ? `: ${policy.reason}` : '';
      return { ...state, argsHash: hash, policy, status: 'denied', note: `Tool call ${state.id} (${state.name}) was denied by the ${policy.source} policy${why}.` };
    }
    return { ...state, argsHash: hash, policy, status: policy.decision === 'ask' ? 'awaiting' : 'ready' };
  });
  const waiting = decided.some((call) => call.status === 'awaiting');
  const deadline =
    waiting && context.approval.timeoutMs !== undefined && context.turn.startedAt !== undefined
      ? { approvalDeadlineAt: context.turn.startedAt + context.approval.timeoutMs }
      : {};
  return { turn: { ...context.turn, ...deadline, calls: decided } };
}
