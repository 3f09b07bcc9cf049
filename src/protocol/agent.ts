import type { AssistantMessage, Message, Usage } from './messages.ts';

/** Why a run ended; every final state carries one. */
export type StopReason =
  | 'final_answer'
  | 'stop_when'
  | 'step_limit'
  | 'token_budget'
  | 'cost_budget'
  | 'deadline'
  | 'fitness'
  | 'cancelled'
  | 'error';

export type RunStatus = 'done' | 'failed' | 'halted' | 'cancelled';

/** The final state a stop reason leads to. */
export function statusOf(reason: StopReason | undefined): RunStatus {
  switch (reason) {
    case 'final_answer':
    case 'stop_when':
      return 'done';
    case 'cancelled':
      return 'cancelled';
    case 'step_limit':
    case 'token_budget':
    case 'cost_budget':
    case 'deadline':
    case 'fitness':
      return 'halted';
    default:
      return 'failed';
  }
}

export interface Limits {
  /** Model turns before the run halts. */
  maxSteps: number;
  /** Input plus output tokens summed over the run. */
  maxTokens?: number;
  maxCostUsd?: number;
  /** Wall-clock deadline, epoch milliseconds; kept as data so it survives a restore. */
  deadlineAt?: number;
}

/** What a tool call ended with, as the model will read it. */
export interface ToolOutcome {
  content: string;
  isError: boolean;
  truncated?: boolean;
  attempts?: number;
  durationMs?: number;
}

export type CallStatus =
  | 'ready'
  | 'invalid'
  | 'denied'
  | 'awaiting'
  | 'approved'
  | 'rejected'
  | 'running'
  | 'done';

/** One tool call of the current model turn, as dispatch, approval and execution see it. */
export interface CallState {
  id: string;
  name: string;
  status: CallStatus;
  /** What the model is told instead of a result: the validation error, denial or rejection reason. */
  note?: string;
  decidedBy?: string;
  outcome?: ToolOutcome;
  /** Hash of the arguments as the model sent them: an approval names it, so it cannot apply to other arguments. */
  argsHash?: string;
  /** The policy that applied at dispatch, and where it came from. */
  policy?: { decision: 'allow' | 'ask' | 'deny'; source: string; reason?: string };
  /** Arguments as edited by the approver (JSON text), used instead of the model's. */
  arguments?: string;
}

/** How approvals behave: how long a decision may take, and what happens when none comes. */
export interface ApprovalSettings {
  timeoutMs?: number;
  onTimeout: 'reject' | 'approve';
}

/** One evaluation of a fitness target: what was measured, whether it held, and what the breach does. */
export interface FitnessResult {
  name: string;
  value: number | boolean | null;
  ok: boolean;
  detail: string;
  onBreach: 'halt' | 'tell-model' | 'record';
  step: number;
}

export interface AgentContext {
  runId: string;
  messages: Message[];
  step: number;
  usage: Usage;
  costUsd: number;
  limits: Limits;
  approval: ApprovalSettings;
  /** Tools a human approved for the rest of this run ("always approve"). */
  alwaysApprove: string[];
  /** The current model turn: its tool calls, when it began, and the approval deadline if one applies. */
  turn: { step: number; startedAt?: number; approvalDeadlineAt?: number; calls: CallState[] } | null;
  output: string | null;
  stop: { reason: StopReason; detail: string } | null;
  error: { name: string; message: string } | null;
  /** The latest result of each fitness target, by name. */
  fitness?: Record<string, FitnessResult>;
  /** Kept for an agent that compacts its context: the size of its latest model input, which the compaction guard reads. */
  window?: InputWindow;
  /** Tool outputs compaction took out of the messages, by the id their stub names (`recall_tool_output` reads them). */
  elided?: Record<string, string>;
}

/**
 * The size of the latest model input of an agent that compacts its context: `tokens` counted when it
 * was sent (or when it was compacted), over the first `messages` messages of the context, and the size
 * at which the next input is compacted. Recorded as data, so that replay takes the same path.
 */
export interface InputWindow {
  tokens: number;
  messages: number;
  compactAt: number;
  /** The step at which the context was last compacted: compaction runs at most once before a model call. */
  compactedAt?: number;
}

/**
 * What the compaction actor hands back: the messages before and after, which tool outputs moved to
 * `elided`, and, when a strategy asked the model (a summary), that call's model, usage and cost.
 */
export interface CompactionOutcome {
  /** The strategies that changed something, in order ("elideToolOutputs, summarize"); empty when none did. */
  strategy: string;
  before: { messages: number; tokens: number };
  after: { messages: number; tokens: number };
  /** The context's messages after compaction; absent when nothing changed. */
  messages?: Message[];
  /** Tool outputs elided, each by the id its stub names and its index in the messages before. */
  elided?: { id: string; index: number }[];
  model?: string;
  usage?: Usage;
  costUsd?: number;
  at?: number;
  durationMs?: number;
}

/**
 * Who a run is for: its tenant, its user and its conversation thread, when the caller says. Kept in
 * the run's header labels (`statecraft.tenant`, `statecraft.user`, `statecraft.thread`); memory is
 * kept and recalled by it.
 */
export interface RunIdentity {
  tenant?: string;
  user?: string;
  thread?: string;
}

/** What the model saw of memory in one turn: the working memory's version and value, and the notes recalled. */
export interface MemoryInput {
  working?: { version: number; value: Record<string, unknown> };
  recalled?: { id: string; text: string; tags: string[]; score: number }[];
}

export interface AgentInput {
  runId: string;
  input?: string;
  instructions?: string;
  history?: Message[];
  limits: Limits;
  approval?: ApprovalSettings;
  /** For an agent that compacts its context and starts from a history: the window its first request is measured against. */
  window?: InputWindow;
}

/** What the model actor hands back to the machine: the reply, its usage and its price. */
export interface ModelTurn {
  message: AssistantMessage;
  usage: Usage;
  costUsd: number;
  model: string;
  /** When the reply arrived (epoch ms); approval deadlines are counted from it, so replay reproduces them. */
  at?: number;
  /** How long the call took, retries included. */
  durationMs?: number;
  /** How long the call waited for its endpoint's shared rate limits (`modelLimits`) before it was sent, retries' waits included; absent when it did not wait. */
  waitedMs?: number;
  /** Calls the runtime could not take as given (missing or repeated id), by the id it assigned. */
  problems?: Record<string, string>;
  /** For an agent that compacts its context: the tokens of the input sent, and the size at which to compact. */
  window?: { tokens: number; compactAt: number };
  /** Memory put into this turn's request, recorded with its answer: replay and audits read it here, never from the memory store. */
  memory?: MemoryInput;
}

export interface AgentOutput {
  status: RunStatus;
  reason: StopReason;
  detail: string;
  output: string | null;
  error: { name: string; message: string } | null;
  steps: number;
  usage: Usage;
  costUsd: number;
}
