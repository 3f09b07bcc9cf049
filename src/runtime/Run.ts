import { createActor, type AnyActor, type AnyActorRef, type InspectionEvent, type Snapshot as XSnapshot } from 'xstate';
import type { AgentEvent } from '../../machines/agentMachine.ts';
import { UserError } from '../errors.ts';
import { timerAt } from '../delay.ts';
import { Redactor } from '../credentials/Redactor.ts';
import type { AgentContext, AgentOutput } from '../protocol/agent.ts';
import { zeroUsage } from '../protocol/messages.ts';
import { machineErrorDetail } from '../log/stores/summarize.ts';
import type { ModelPort } from '../protocol/model.ts';
import { Recorder, type RecordedPatch } from '../recorder/Recorder.ts';
import { newOwner } from '../recorder/owner.ts';
import type { Agent } from './defineAgent.ts';
import { inspectObserver, notifyListeners } from './inspectObserver.ts';
import { provideAgent } from './provideAgent.ts';
import { anyBusy, approval, awaitingCall, childPath, waitingCalls } from './waitingCalls.ts';
import { decisionEvents } from './decisionEvents.ts';
import { agentEvents } from './agentEvents.ts';
import type { RunTelemetry } from '../telemetry/RunTelemetry.ts';
import { Deadlines } from './deadlines.ts';
import { relayLive } from './liveRelay.ts';
import type { PendingCall, RunEvent, RunResult } from './runEvents.ts';
import { keyframeSettings, runSecrets, type ApproveOptions, type RunOptions, type RunStart } from './runOptions.ts';

/** When the calls a waiting agent holds were asked for: its turn's start, the model's answer. */
const since = (context: AgentContext | undefined) => (context?.turn?.startedAt === undefined ? {} : { since: context.turn.startedAt });

type Snapshot = XSnapshot<unknown> & { context: AgentContext; value: unknown; tags: Set<string>; output?: AgentOutput };

/** A running agent: watch it, answer its approvals, cancel it, await its result. */
export class Run {
  readonly runId: string;
  readonly agent: Agent;
  readonly model: ModelPort;
  readonly result: Promise<RunResult>;
  private readonly actor: AnyActor;
  private readonly recorder: Recorder | undefined;
  private readonly redactor: Redactor;
  private approvalTimer: { cancel(): void } | undefined;
  private readonly listeners = new Set<(event: RunEvent) => void>();
  /** Listeners of the events the run's work emits (text, model and tool events) that do not want its transitions reported. */
  private readonly workListeners = new Set<(event: RunEvent) => void>();
  /** A timer for each agent actor of the run (its own and those it invokes) with a deadline. */
  private readonly deadlines = new Deadlines(() => !this.finished);
  private settle!: (result: RunResult) => void;
  private fail!: (error: unknown) => void;
  private finished = false;
  /** `result` has resolved or rejected. */
  private settled = false;
  private skipInit: boolean;
  /** Decisions already told to listeners (`tool.decided`), so each is told once. */
  private readonly decided = new Set<string>();
  private readonly telemetry: RunTelemetry | undefined;
  /** Set by `pause`: the run stops before its next model request, and says so here. */
  private pausing: { reached: () => void; at: Promise<void> } | undefined;

  /** Use `startRun` or `resumeRun`; the constructor takes a resolved model and a start plan. */
  constructor(agent: Agent, model: ModelPort, runId: string, start: RunStart, options: Pick<RunOptions, 'store' | 'signal' | 'onEvent' | 'inspect' | 'writeWithinMs' | 'keyframes' | 'beforeModelCall' | 'credentials' | 'identity' | 'modelLimits' | 'holds'>) {
    this.agent = agent;
    this.runId = runId;
    this.model = model;
    this.telemetry = start.telemetry;
    if (this.telemetry) this.listeners.add(this.telemetry.listener);
    if (options.onEvent) this.listeners.add(options.onEvent);
    this.result = new Promise((resolve, reject) => {
      this.settle = (result) => {
        this.settled = true;
        this.recorder?.close();
        resolve(result);
      };
      this.fail = (error) => {
        this.settled = true;
        this.recorder?.close();
        this.telemetry?.abort(error);
        reject(error);
      };
    });
    this.redactor = new Redactor();
    this.recorder = options.store
      ? new Recorder({
          store: options.store,
          runId,
          redactor: this.redactor,
          owner: newOwner(),
          writeWithinMs: options.writeWithinMs,
          ...keyframeSettings(options.keyframes),
        })
      : undefined;
    if (options.store) relayLive(this, options.store);
    const machine = provideAgent(agent, {
      runId,
      model,
      emit: (event) => this.emit(event),
      durable: (options) => this.recorder?.durable(options) ?? Promise.resolve(),
      checkpoint: () => {
        if (!this.pausing) return Promise.resolve();
        this.pausing.reached();
        return new Promise<void>(() => {});
      },
      redactor: this.redactor, ...(options.beforeModelCall ? { beforeModelCall: options.beforeModelCall } : {}), ...(options.modelLimits ? { modelLimits: options.modelLimits } : {}),
      secrets: runSecrets(agent, options, this.redactor), ...(options.holds ? { holds: options.holds } : {}),
      content: this.telemetry?.content === true, ...(options.identity ? { identity: options.identity } : {}),
    });
    const observe = inspectObserver(runId, options.inspect, this.redactor);
    const inspect = observe
      ? (event: InspectionEvent) => {
          this.onInspect(event);
          observe(event);
        }
      : (event: InspectionEvent) => this.onInspect(event);
    this.skipInit = start.kind === 'restore';
    this.actor =
      start.kind === 'new'
        ? createActor(machine, { input: start.input, inspect })
        : createActor(machine, { snapshot: start.snapshot as never, inspect });
    // Deferred so the final state's inspection event reaches listeners before 'end'.
    this.actor.subscribe({
      complete: () => queueMicrotask(() => void this.finish()),
      error: (error) => queueMicrotask(() => void this.finish(error)),
    });
    if (options.signal) {
      if (options.signal.aborted) queueMicrotask(() => this.cancel('Cancelled before the run started.'));
      else options.signal.addEventListener('abort', () => this.cancel('Cancelled by the caller.'), { once: true });
    }
    // Started after the current tick so listeners attached right after creation see every event.
    queueMicrotask(() => void this.begin(start).catch((error: unknown) => this.abort(error)));
  }

  /** Current context of the run (messages, usage, pending calls). */
  get context(): Readonly<AgentContext> {
    return this.snapshot().context;
  }

  /** Whether the run's agent or an agent it invokes is calling its model or running tools right now. */
  get busy(): boolean {
    return anyBusy(this.actor, this.agent);
  }

  /** Tool calls waiting for a human decision, in the run's agent and in the agents it invokes. */
  get pendingApprovals(): PendingCall[] {
    const calls = waitingCalls(this.actor, this.agent).map(({ call, path, requested }) => ({ ...call, arguments: requested, ...(path === undefined ? {} : { actor: path }) }));
    // Redacted like every event: `argsHash` still binds a decision to the arguments as sent.
    return this.redactor.size ? this.redactor.redactJson(calls) : calls;
  }

  /** The persisted snapshot of the run now, as the log stores it. */
  persistedSnapshot(): unknown {
    return this.actor.getPersistedSnapshot();
  }

  on(listener: (event: RunEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Hears only what the run's work emits (streamed text, model and tool events), not its transitions:
   * unlike `on`, it leaves each transition unreported when nothing else listens. @internal
   */
  onWork(listener: (event: RunEvent) => void): () => void {
    this.workListeners.add(listener);
    return () => this.workListeners.delete(listener);
  }

  /**
   * Approve one waiting tool call. `argsHash` binds the decision to the arguments the approver saw;
   * `arguments` replaces them (validated again); `always` approves this tool for the rest of the run.
   */
  approve(callId: string, options: ApproveOptions = {}): void {
    const { actor, event } = approval(this.runId, this.actor, this.agent, callId, options);
    actor.send(event);
  }

  /** Reject one waiting tool call; the model sees the reason as that call's result. */
  reject(callId: string, reason: string, options: Pick<ApproveOptions, 'by' | 'argsHash' | 'actor'> = {}): void {
    const { actor } = awaitingCall(this.runId, this.actor, this.agent, callId, { hash: options.argsHash, actor: options.actor });
    actor.send({ type: 'REJECT', callId, reason: reason || 'Rejected by a human.', by: options.by ?? 'user', ...(options.argsHash ? { argsHash: options.argsHash } : {}) });
  }

  /** Stop the run: the model and tool calls in flight are aborted and the run ends as cancelled. */
  cancel(reason?: string): void {
    const snapshot = this.snapshot();
    if (snapshot.status !== 'active' || this.finished) return;
    const event: AgentEvent = { type: 'CANCEL', reason };
    if ((snapshot as unknown as { can(event: AgentEvent): boolean }).can(event)) this.send(event);
    // A machine of the user's own may have no CANCEL transition (agents composed by a machine of their
    // own): the run is stopped from outside instead, which aborts what its agents have in flight.
    else void this.stopCancelled(reason ?? 'Cancelled.');
  }

  private async stopCancelled(detail: string) {
    const result = this.finishedAs('cancelled', 'cancelled', detail);
    this.actor.stop();
    this.recorder?.note({ type: 'statecraft.cancelled', reason: detail }, { status: 'cancelled', reason: `cancelled: ${detail}`, waitingOn: undefined });
    await this.end(result);
  }

  /**
   * Let go of a run that waits for approvals: its records are made durable, the actor stops without
   * a final state, and `result` resolves with status `waiting`. Any process can resume it later.
   */
  async detach(): Promise<RunResult> {
    // Taken now: once the actor stops, the agents it invokes (and the calls they hold) are gone.
    const waiting = this.pendingApprovals;
    if (!waiting.length) {
      throw new UserError(`Run ${this.runId} is not waiting for approval; only a waiting run can be detached (cancel it instead).`);
    }
    if (this.finished) return this.result;
    const listed = waiting.map((call) => `${call.id} (${call.name}${call.actor === undefined ? '' : ` in ${call.actor}`})`).join(', ');
    const result = this.finishedAs('waiting', 'awaiting_approval', `Waiting for approval of ${listed}.`);
    try {
      await this.durable();
      await this.recorder?.release();
    } catch (error) {
      // Not recorded as waiting (a store that failed, or a worker's lease that was lost): the run fails here.
      this.actor.stop();
      this.fail(error);
      throw error;
    }
    this.actor.stop();
    this.emit({ type: 'end', runId: this.runId, result });
    this.settle(result);
    return result;
  }

  /**
   * Asks the run to stop before its next model request (a worker draining): resolves once it stands
   * there, with every step before it recorded and none of the request made, or once it ends or waits.
   * Tools already running finish. Follow with `release` to let another process continue it.
   */
  pause(): Promise<void> {
    if (!this.pausing) {
      let reached!: () => void;
      const at = new Promise<void>((resolve) => (reached = resolve));
      this.pausing = { reached, at };
    }
    const settled = this.result.then(
      () => {},
      () => {},
    );
    return Promise.race([this.pausing.at, settled]);
  }

  /**
   * Lets go of the run where it stands, for another process to continue from its last record (a
   * worker draining): what was recorded is made durable, the actor stops (calls in flight are aborted
   * and counted as interrupted by the next process), and `result` resolves with status `released`.
   */
  async release(): Promise<RunResult> {
    if (this.finished) return this.result;
    const result = this.finishedAs('released', 'released', 'Released by its process; another continues it from its last record.');
    // Stopped before the writes: no transition after this point is recorded.
    this.actor.stop();
    try {
      await this.durable();
      await this.recorder?.release();
    } catch (error) {
      this.fail(error);
      return this.result;
    }
    this.emit({ type: 'end', runId: this.runId, result });
    this.settle(result);
    return result;
  }

  /**
   * Stops the run in this process and writes nothing more for it (its worker lost the lease, and
   * another process may be running it already): calls in flight are aborted, `result` rejects with `reason`.
   */
  abandon(reason: Error): void {
    // Also while the run is being let go (detach, release) and its result is not settled yet.
    if (this.settled) return;
    this.finished = true;
    this.deadlines.cancel();
    this.approvalTimer?.cancel();
    this.actor.stop();
    this.fail(reason);
  }

  /** Marks a run that ends without a final state of its machine as finished, and the result it ends with. */
  private finishedAs(status: RunResult['status'], reason: RunResult['reason'], detail: string): RunResult {
    this.finished = true;
    this.deadlines.cancel();
    this.approvalTimer?.cancel();
    const { context } = this.snapshot();
    return {
      runId: this.runId,
      status,
      reason,
      detail,
      output: null,
      error: null,
      steps: context?.step ?? 0,
      usage: context?.usage ?? zeroUsage(),
      costUsd: context?.costUsd ?? 0,
    };
  }

  /** Resolves once every record so far is in the store. */
  durable(): Promise<void> {
    return this.recorder?.durable() ?? Promise.resolve();
  }

  private async begin(start: RunStart) {
    if (this.recorder) {
      if (start.kind === 'new') {
        if (!start.header) throw new Error('A recorded run needs a header.');
        await this.recorder.begin(start.header, start.machines, start.created);
      } else {
        this.recorder.continueFrom(start.lastSeq, start.snapshot);
        // Written, and the run claimed by this process, before anything else happens: even a run that
        // waits for a decision, which belongs to no process. Another process resuming it after this
        // write is refused (RunInUseError); one that read the run before it fails at its own first
        // write, having written nothing.
        for (const note of start.notes) this.recorder.note(note, { status: 'running' });
        await this.recorder.durable();
      }
    }
    this.actor.start();
    this.deadlines.armAll(this.actor, this.agent);
  }

  private send(event: AgentEvent) {
    this.actor.send(event);
  }

  private snapshot(): Snapshot {
    return this.actor.getSnapshot() as Snapshot;
  }

  private emit(event: RunEvent) {
    const safe = this.redactor.size ? (this.redactor.redactJson(event) as RunEvent) : event;
    notifyListeners(this.runId, this.listeners, safe);
    if (this.workListeners.size) notifyListeners(this.runId, this.workListeners, safe);
  }

  private onInspect(event: InspectionEvent) {
    if (event.type !== '@xstate.snapshot' || this.finished) return;
    if (event.actorRef.sessionId !== event.rootId) {
      // A child agent's transition changes the root's persisted snapshot too: record it, naming the child.
      const path = childPath(event.actorRef as AnyActorRef);
      if (path && event.event.type !== 'xstate.init') this.recorder?.record(this.actor, event.event as { type: string }, { actor: path });
      // An invoked agent that starts waiting makes the whole run wait for the same decision.
      const child = event.snapshot as Snapshot;
      if (path && this.listeners.size) {
        for (const decided of decisionEvents(this.runId, event.event, child.context, this.decided, path)) this.emit(decided);
        for (const lifecycle of agentEvents(this.runId, this.agent, event.actorRef as AnyActorRef, path, event.event, child)) this.emit(lifecycle);
      }
      if (path) this.deadlines.arm(event.actorRef as AnyActorRef, child.context?.limits?.deadlineAt);
      if (path && child.tags?.has('waiting') && event.event.type !== 'APPROVE' && event.event.type !== 'REJECT') {
        const calls = this.pendingApprovals.filter((call) => call.actor === path);
        if (calls.length) {
          this.emit({ type: 'approval.requested', runId: this.runId, calls, ...since(child.context) });
          this.armApprovalDeadline(child.context.turn?.approvalDeadlineAt, event.actorRef as AnyActorRef);
        }
      }
      return;
    }
    const snapshot = event.snapshot as Snapshot;
    let recorded: RecordedPatch | undefined;
    if (this.skipInit && event.event.type === 'xstate.init') {
      this.skipInit = false;
    } else {
      const checkpoint = snapshot.status !== 'active' || (snapshot.tags?.has('checkpoint') ?? false);
      recorded = this.recorder?.record(this.actor, event.event as { type: string }, undefined, { keyframe: checkpoint });
      if (recorded && this.telemetry?.patches) this.telemetry.notePatch(recorded.seq, recorded.patch);
    }
    if (this.listeners.size === 0 && !snapshot.tags?.has('waiting')) return;
    const { context } = snapshot;
    for (const decided of decisionEvents(this.runId, event.event, context, this.decided)) this.emit(decided);
    const tags = [...(snapshot.tags ?? [])];
    this.emit({
      type: 'state',
      runId: this.runId,
      state: snapshot.value,
      tags,
      step: context.step ?? 0,
      usage: context.usage ?? zeroUsage(),
      costUsd: context.costUsd ?? 0,
      // The patch's size is worked out only when a listener reads it (a keyframe's is not otherwise serialized here).
      ...(recorded ? { record: { seq: recorded.seq, patchOps: recorded.patch.length, get patchBytes() { return recorded.patchBytes; } } } : {}),
    });
    if (tags.includes('waiting') && event.event.type !== 'APPROVE' && event.event.type !== 'REJECT') {
      this.emit({ type: 'approval.requested', runId: this.runId, calls: this.pendingApprovals.filter((call) => call.actor === undefined), ...since(context) });
      this.armApprovalDeadline(context.turn?.approvalDeadlineAt);
    }
  }

  /** When the decision deadline of the agent waiting (the root, or an agent it invokes) passes, that agent applies its default. */
  private armApprovalDeadline(at: number | undefined, target: AnyActorRef = this.actor) {
    this.approvalTimer?.cancel();
    if (at === undefined) return;
    this.approvalTimer = timerAt(at, () => {
      if (!this.finished && waitingCalls(this.actor, this.agent).some((waiting) => waiting.actor === target)) target.send({ type: 'APPROVAL_EXPIRED' });
    });
  }

  private abort(error: unknown) {
    if (this.finished) return;
    this.finished = true;
    this.deadlines.cancel();
    this.approvalTimer?.cancel();
    this.actor.stop();
    this.fail(this.redactor.size ? this.redactor.redactError(error) : error);
  }

  private async finish(error?: unknown) {
    if (this.finished) return;
    this.finished = true;
    this.deadlines.cancel();
    this.approvalTimer?.cancel();
    const snapshot = this.snapshot();
    const failure = { name: error instanceof Error ? error.name : 'Error', message: String((error as Error)?.message ?? error) };
    const output: AgentOutput = snapshot.output ?? {
      status: 'failed',
      reason: 'error',
      detail: machineErrorDetail(failure),
      output: null,
      error: failure,
      steps: snapshot.context.step ?? 0,
      usage: snapshot.context.usage ?? zeroUsage(),
      costUsd: snapshot.context.costUsd ?? 0,
    };
    const result = (this.redactor.size ? this.redactor.redactJson({ runId: this.runId, ...output }) : { runId: this.runId, ...output }) as RunResult;
    await this.end(result);
  }

  /** Ends the run with `result` once its records are durable; a failed write fails the run instead. */
  private async end(result: RunResult): Promise<void> {
    try {
      await this.durable();
    } catch (storageError) {
      this.fail(storageError);
      return;
    }
    this.emit({ type: 'end', runId: this.runId, result });
    this.settle(result);
  }
}
