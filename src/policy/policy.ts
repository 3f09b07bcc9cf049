/** What a policy says about one tool call. */
export type Decision = 'allow' | 'ask' | 'deny';

export type PolicyVerdict = Decision | { decision: Decision; reason?: string };

/** Who is asking: the agent's identity and grants, and the tool being called. */
export interface PolicySubject {
  agent: { id: string; version: string; grants: readonly string[] };
  tool: string;
}

/** A fixed decision, or a function of the call's parsed arguments and its subject. */
export type Policy<A = unknown> = Decision | ((args: A, subject: PolicySubject) => PolicyVerdict);

export interface AppliedPolicy {
  decision: Decision;
  source: string;
  reason?: string;
}

const rank: Record<Decision, number> = { allow: 0, ask: 1, deny: 2 };

function verdictOf(source: string, policy: Policy, args: unknown, subject: PolicySubject): AppliedPolicy {
  let verdict: PolicyVerdict;
  try {
    verdict = typeof policy === 'function' ? policy(args, subject) : policy;
  } catch (error) {
    return { decision: 'deny', source, reason: `the policy failed: ${(error as Error).message}` };
  }
  const { decision, reason } = typeof verdict === 'string' ? { decision: verdict, reason: undefined } : verdict;
  if (!(decision in rank)) return { decision: 'deny', source, reason: `the policy returned ${JSON.stringify(decision)}, not allow, ask or deny` };
  return reason ? { decision, source, reason } : { decision, source };
}

/**
 * Evaluate every policy that covers a call; the strictest wins (deny over ask over allow). A policy
 * that throws or answers nonsense denies the call, so a bug never opens a door.
 */
export function evaluatePolicies(policies: readonly { source: string; policy: Policy }[], args: unknown, subject: PolicySubject): AppliedPolicy {
  let applied: AppliedPolicy = { decision: 'allow', source: 'default' };
  for (const { source, policy } of policies) {
    const next = verdictOf(source, policy, args, subject);
    if (applied.source === 'default' || rank[next.decision] > rank[applied.decision]) applied = next;
  }
  return applied;
}

const matches = (grant: string, scope: string) =>
  grant === '*' || grant === scope || (grant.endsWith(':*') && scope.startsWith(grant.slice(0, -1)));

/** The scopes a tool needs that the grants do not cover. */
export function missingScopes(needed: readonly string[], grants: readonly string[]): string[] {
  return needed.filter((scope) => !grants.some((grant) => matches(grant, scope)));
}
