import { randomUUID } from 'node:crypto';
import { createActor, type AnyActor, type InspectionEvent } from 'xstate';
import type { AgentEvent } from '../../machines/agentMachine.ts';
import { UserError } from '../errors.ts';
import type { AgentContext, AgentInput, AgentOutput } from '../protocol/agent.ts';
import { zeroUsage, type Message } from '../protocol/messages.ts';
import type { ModelPort } from '../protocol/model.ts';
import { assertPriced, type Agent } from './defineAgent.ts';
import { provideAgent } from './provideAgent.ts';
import { resolveModel } from './resolveModel.ts';
import type { RunEvent, RunResult } from './runEvents.ts';

export interface RunOptions {
  /** The user's message that starts the run. */
  input?: string;
  /** Messages placed before the input (a previous conversation). */
  history?: Message[];
  /** Overrides the agent's model for this run. */
  model?: ModelPort | string;
  runId?: string;
  /** Aborting it cancels the run, like `run.cancel()`. */
  signal?: AbortSignal;
  onEvent?: (event: RunEvent) => void;
}

type Snapshot = ReturnType<AnyActor['getSnapshot']> & { context: AgentContext; status: string; output?: AgentOutput };

/** A running agent: watch it, answer its approvals, cancel it, await its result. */
export class Run {
  readonly runId: string;
  readonly agent: Agent;
  readonly model: ModelPort;
  readonly result: Promise<RunResult>;
  private readonly actor: AnyActor;
  private readonly listeners = new Set<(event: RunEvent) => void>();
  private deadlineTimer: NodeJS.Timeout | undefined;
  private settle!: (result: RunResult) => void;

  constructor(agent: Agent, options: RunOptions = {}) {
    this.agent = agent;
    this.runId = options.runId ?? randomUUID();
    this.model = resolveModel(options.model ?? agent.model);
    assertPriced(agent, this.model.info.model);
    if (options.onEvent) this.listeners.add(options.onEvent);
    this.result = new Promise((resolve) => (this.settle = resolve));
    const machine = provideAgent(agent, {
      runId: this.runId,
      model: this.model,
      emit: (event) => this.emit(event),
      durable: () => Promise.resolve(),
    });
    const input: AgentInput = {
      runId: this.runId,
      input: options.input,
      instructions: agent.instructions,
      history: options.history,
      limits: {
        maxSteps: agent.limits.maxSteps,
        maxTokens: agent.limits.maxTokens,
        maxCostUsd: agent.limits.maxCostUsd,
        deadlineAt: agent.limits.timeoutMs === undefined ? undefined : Date.now() + agent.limits.timeoutMs,
      },
    };
    this.actor = createActor(machine, { input, inspect: (event) => this.onInspect(event) });
    // Deferred so the final state's inspection event reaches listeners before 'end'.
    this.actor.subscribe({
      complete: () => queueMicrotask(() => this.finish()),
      error: (error) => queueMicrotask(() => this.finish(error)),
    });
    if (options.signal) {
      if (options.signal.aborted) queueMicrotask(() => this.cancel('Cancelled before the run started.'));
      else options.signal.addEventListener('abort', () => this.cancel('Cancelled by the caller.'), { once: true });
    }
    // Started on the next microtask so listeners attached right after `startRun` see every event.
    queueMicrotask(() => {
      this.actor.start();
      this.armDeadline();
    });
  }

  /** Current context of the run (messages, usage, pending calls). */
  get context(): Readonly<AgentContext> {
    return this.snapshot().context;
  }

  /** Tool calls waiting for a human decision. */
  get pendingApprovals() {
    return this.context.turn?.calls.filter((call) => call.status === 'awaiting') ?? [];
  }

  on(listener: (event: RunEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Approve one waiting tool call by id. */
  approve(callId: string, by?: string): void {
    this.assertAwaiting(callId);
    this.send({ type: 'APPROVE', callId, by });
  }

  /** Reject one waiting tool call; the model sees the reason as that call's result. */
  reject(callId: string, reason: string, by?: string): void {
    this.assertAwaiting(callId);
    this.send({ type: 'REJECT', callId, reason: reason || 'Rejected by a human.', by });
  }

  /** Stop the run: the model and tool calls in flight are aborted and the run ends as cancelled. */
  cancel(reason?: string): void {
    if (this.snapshot().status === 'active') this.send({ type: 'CANCEL', reason });
  }

  private send(event: AgentEvent) {
    this.actor.send(event);
  }

  private snapshot(): Snapshot {
    return this.actor.getSnapshot() as Snapshot;
  }

  private assertAwaiting(callId: string) {
    const waiting = this.pendingApprovals;
    if (waiting.some((call) => call.id === callId)) return;
    const known = this.context.turn?.calls.find((call) => call.id === callId);
    throw new UserError(
      known
        ? `Run ${this.runId}: tool call ${callId} (${known.name}) is not waiting for approval; its status is "${known.status}".`
        : `Run ${this.runId}: no tool call ${callId} in the current turn. ` +
            (waiting.length
              ? `Calls waiting for approval: ${waiting.map((call) => `${call.id} (${call.name})`).join(', ')}.`
              : 'No call is waiting for approval.'),
    );
  }

  private emit(event: RunEvent) {
    for (const listener of this.listeners) listener(event);
  }

  private onInspect(event: InspectionEvent) {
    if (event.type !== '@xstate.snapshot' || event.actorRef.sessionId !== event.rootId) return;
    const snapshot = event.snapshot as Snapshot;
    const { context } = snapshot;
    const tags = [...((snapshot as unknown as { tags: Set<string> }).tags ?? [])];
    this.emit({
      type: 'state',
      runId: this.runId,
      state: (snapshot as unknown as { value: unknown }).value,
      tags,
      step: context.step ?? 0,
      usage: context.usage ?? zeroUsage(),
      costUsd: context.costUsd ?? 0,
    });
    if (tags.includes('waiting') && event.event.type !== 'APPROVE' && event.event.type !== 'REJECT') {
      this.emit({ type: 'approval.requested', runId: this.runId, calls: this.pendingApprovalsOf(context) });
    }
  }

  private pendingApprovalsOf(context: AgentContext) {
    return context.turn?.calls.filter((call) => call.status === 'awaiting') ?? [];
  }

  private armDeadline() {
    const at = this.context.limits?.deadlineAt;
    if (at === undefined) return;
    this.deadlineTimer = setTimeout(() => {
      if (this.snapshot().status === 'active') this.actor.send({ type: 'DEADLINE' });
    }, Math.max(0, at - Date.now()));
  }

  private finish(error?: unknown) {
    clearTimeout(this.deadlineTimer);
    const snapshot = this.snapshot();
    const output: AgentOutput = snapshot.output ?? {
      status: 'failed',
      reason: 'error',
      detail: 'The agent machine stopped with an error.',
      output: null,
      error: { name: error instanceof Error ? error.name : 'Error', message: String((error as Error)?.message ?? error) },
      steps: snapshot.context.step ?? 0,
      usage: snapshot.context.usage ?? zeroUsage(),
      costUsd: snapshot.context.costUsd ?? 0,
    };
    const result: RunResult = { runId: this.runId, ...output };
    this.emit({ type: 'end', runId: this.runId, result });
    this.settle(result);
  }
}

/**
 * Start an agent run and return its handle at once.
 * @example
 * const run = startRun(agent, { input: 'Summarise README.md' });
 * run.on((event) => event.type === 'approval.requested' && run.approve(event.calls[0].id));
 * const result = await run.result;
 */
export function startRun(agent: Agent, options: RunOptions = {}): Run {
  return new Run(agent, options);
}

/** Run an agent to its end and return how it ended. */
export function runAgent(agent: Agent, input: string, options: Omit<RunOptions, 'input'> = {}): Promise<RunResult> {
  return startRun(agent, { ...options, input }).result;
}
