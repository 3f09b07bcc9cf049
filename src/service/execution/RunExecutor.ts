import type { Message } from '../../protocol/messages.ts';
import type { RunEvent } from '../../runtime/runEvents.ts';

export interface StartRequest {
  runId: string;
  agentId: string;
  input: string;
  history?: Message[];
  /** Kept in the run's header: the owning tenant and the key that started it. */
  labels: Record<string, string>;
}

/** A person's decision on one waiting call, bound to the arguments they saw (`argsHash`). */
export type Decision = { callId: string; argsHash: string; by: string; actor?: string } & ({ kind: 'approve' } | { kind: 'reject'; reason: string });

/**
 * Where the service's runs execute. The service only asks it to start, continue, decide and cancel
 * runs it has already checked belong to the caller's tenant; it reads runs from the store itself.
 * In-process execution is the default; queue workers implement the same interface.
 */
export interface RunExecutor {
  /** The ids of the agents it can run. */
  agentIds(): string[];
  /** Starts a run; resolves once its header is in the store (it can be read), not when it ends. */
  start(request: StartRequest): Promise<void>;
  /** Continues a recorded run that is not running (a fork). */
  resume(runId: string): Promise<void>;
  /** Applies a decision; refused (UserError) when the call does not wait or the hash names other arguments. */
  decide(runId: string, decision: Decision): Promise<void>;
  /** Cancels a run that is running here or waiting; resolves once its end is recorded. */
  cancel(runId: string, reason: string): Promise<void>;
  /**
   * Whether the run executes here now, so that its events announce its records (streams then look in
   * the store when told, not on a timer). Executors that cannot tell leave it out.
   */
  holds?(runId: string): boolean;
  /**
   * Live events of the runs executing here (token deltas, new records), for streams to wake on: of
   * the run `runId` only when given (an executor may still pass others: listeners check the id).
   */
  subscribe(listener: (event: RunEvent) => void, runId?: string): () => void;
  /** Lets runs finish for up to `graceMs`, then cancels the rest, recording why. */
  close(graceMs: number): Promise<void>;
}
