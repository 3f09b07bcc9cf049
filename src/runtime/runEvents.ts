import type { AgentOutput, CallState, FitnessResult } from '../protocol/agent.ts';
import type { AssistantMessage, Message, Usage } from '../protocol/messages.ts';

/**
 * What a run reports to live listeners (progress output, inspector, tracing). Model and tool events
 * of an agent the run invokes name it in `actor` (its name in the `agents` of the agent that invokes
 * it, e.g. `researcher`; nested ones as `writer/editor`); the run's own agent's events have none.
 */
export type RunEvent = (
  /**
   * The run's agent changed state. With a store, `record` says which record holds the transition and
   * the size of its patch (operations, and bytes of its JSON).
   */
  | { type: 'state'; runId: string; state: unknown; tags: string[]; step: number; usage: Usage; costUsd: number; record?: { seq: number; patchOps: number; patchBytes: number } }
  | { type: 'delta'; runId: string; step: number; text: string }
  /** The model call failed and is tried again (attempt from 2) after `delayMs`; text streamed so far is discarded. */
  | { type: 'model.retry'; runId: string; step: number; attempt: number; delayMs: number; reason: string }
  /**
   * A model answered: who answered (`model`) and who was asked (`requestModel`, on the port of
   * `provider`), its usage (cached and reasoning tokens included when reported), its cost, null when
   * no source knows the model's price (see `modelFacts`), why it stopped, and how long the call took,
   * retries included (a wait for the endpoint's rate limits is `waitedMs`, not part of it).
   */
  | {
      type: 'model.answer';
      runId: string;
      step: number;
      model: string;
      requestModel: string;
      provider: string;
      usage: Usage;
      costUsd: number | null;
      finishReason: string;
      durationMs: number;
      /** Why the model was asked, when not for the agent's next turn: `compaction`, a summary of older turns. */
      purpose?: 'compaction';
      /** How long the call waited for its endpoint's shared rate limits (`modelLimits`), apart from `durationMs`; absent when it did not wait. */
      waitedMs?: number;
      /** The messages the model was sent, and its answer: only for a listener that asked for content (telemetry's `content`). */
      input?: readonly Message[];
      output?: AssistantMessage;
    }
  /** A model call failed for good (retries spent, or an error not worth retrying); `errorType` names the error's kind, `error` says it on one line. */
  | { type: 'model.failed'; runId: string; step: number; requestModel: string; provider: string; durationMs: number; errorType: string; error: string }
  /** `arguments` (JSON text, as the call runs with them) only for a listener that asked for content. */
  | { type: 'tool.start'; runId: string; callId: string; tool: string; arguments?: string }
  /** A call that will not run: invalid (unknown tool, bad id or arguments) or denied by scopes or policy; `reason` is what the model is told. */
  | { type: 'tool.refused'; runId: string; callId: string; tool: string; status: 'invalid' | 'denied'; reason: string }
  /** A call ended; a failed one (`isError`) says why in `error`, on one line, cut short. `result` (what the model is told) only for a listener that asked for content. */
  | { type: 'tool.end'; runId: string; callId: string; tool: string; isError: boolean; durationMs: number; error?: string; result?: string }
  /**
   * A call was decided: `allowed` by a policy (`by` names it, as `tool send_email` or `always approved
   * in this run`), or `approved` or `rejected` by someone (`by`, as the decision names them; a
   * rejection's `reason` is what the model is told). Calls no policy covers run without one.
   */
  | { type: 'tool.decided'; runId: string; callId: string; tool: string; decision: 'allowed' | 'approved' | 'rejected'; by: string; reason?: string }
  /** Calls wait for a decision, since `since` (epoch ms: when the model asked for them) when known. */
  | { type: 'approval.requested'; runId: string; calls: PendingCall[]; since?: number }
  /** An agent the run invokes (`actor`, defined as `agent`) started, or continues in this process after a resume. */
  | { type: 'agent.start'; runId: string; actor: string; agent: string }
  /** An agent the run invokes ended: how, after how many steps, with what usage and cost. */
  | { type: 'agent.end'; runId: string; actor: string; agent: string; status: string; steps: number; usage: Usage; costUsd: number }
  | { type: 'fitness'; runId: string; results: FitnessResult[] }
  | { type: 'end'; runId: string; result: RunResult }
) & { actor?: string };

/** How a run ended, or `waiting` when it was detached while waiting for approvals (resume it later). */
export interface RunResult extends Omit<AgentOutput, 'status' | 'reason'> {
  runId: string;
  status: AgentOutput['status'] | 'waiting' | 'released';
  /**
   * Why the run ended; a run let go while it waits for people (`detach`) says `awaiting_approval`, one
   * let go by a draining worker (`release`), to be continued by another, says `released`.
   */
  reason: AgentOutput['reason'] | 'awaiting_approval' | 'released';
}

/**
 * A call waiting for a decision. `arguments` is what it would run with, as the model sent them (JSON
 * text); `actor` names the invoked agent holding it (e.g. `researcher`), absent for the run's own agent.
 */
export type PendingCall = CallState & { actor?: string; arguments: string };
