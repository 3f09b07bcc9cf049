import { estimatingCounter } from '../../model/tokenCounter.ts';
import type { AgentContext, InputWindow } from '../../protocol/agent.ts';
import { inputBudget } from '../contextWindow.ts';
import type { Agent } from '../defineAgent.ts';

/** Never calibrated: the same messages give the same count in the run and in its replay. */
const estimate = estimatingCounter();

/**
 * Whether the next model input would pass the share of the window at which the agent compacts: the
 * size of the latest input as counted when it was sent (recorded in `context.window`), plus an
 * estimate of the messages added since. A pure function of the context, so replay takes the same
 * path; false for an agent that does not compact, and after a compaction at this step.
 */
export function inputExceedsCompactionShare(context: AgentContext): boolean {
  const window = context.window;
  if (!window || window.compactedAt === context.step) return false;
  let tokens = window.tokens;
  for (let i = window.messages; i < context.messages.length; i++) tokens += estimate.message(context.messages[i]!);
  return tokens > window.compactAt;
}

/**
 * The window a run that starts from a history (a thread's next run) begins with, for an agent that
 * compacts: nothing counted yet, so the guard estimates every message and the first request is
 * compacted when the history alone passes the share. Undefined when the model's window is unknown.
 */
export function startingWindow(agent: Pick<Agent, 'compaction' | 'maxContextTokens' | 'prices'>, model: string): InputWindow | undefined {
  if (!agent.compaction) return undefined;
  const budget = inputBudget(agent, model);
  return budget === undefined ? undefined : { tokens: 0, messages: 0, compactAt: Math.floor(agent.compaction.at * budget) };
}
