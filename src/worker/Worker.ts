import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { LeaseLostError } from '../log/format/storageErrors.ts';
import type { PostgresStore } from '../log/stores/postgres/postgresStore.ts';
import type { LeaseLimit } from '../log/stores/postgres/leaseLimits.ts';
import type { Lease, Requeue, RunLeases, SqlExecutor } from '../log/stores/postgres/runLeases.ts';
import { stateAt } from '../log/reads/reads.ts';
import type { Agent } from '../runtime/defineAgent.ts';
import type { AgentContext } from '../protocol/agent.ts';
import { resumeRun } from '../runtime/resumeRun.ts';
import type { Run } from '../runtime/Run.ts';
import { startQueuedRun } from '../runtime/startRun.ts';
import { delay } from '../delay.ts';
import { fencedStore } from './fencedStore.ts';
import { ENDED, leaseLost, message, type Slot } from './slot.ts';
import { queueName, type RunQueue, type TakenTicket } from './runQueue.ts';
import type { ResolvedWorkerOptions, WorkerEvent } from './workerOptions.ts';
import { keepsWaiting, sendDecisions, supersededBy, wakeAt, type SentDecisions } from './waitingRuns.ts';

/** A worker process's loop: takes runs of its agents from the queue, holds each by a lease, and runs many at once. Made by `startWorker`. */
export class Worker {
  /** This worker's name in the leases it holds: host, pid and a random part. */
  readonly id = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  /** Resolves once the worker has stopped (after `stop()`): every run it held ended, waits, or was released. */
  readonly closed: Promise<void>;
  readonly #store: PostgresStore;
  readonly #leases: RunLeases;
  readonly #queue: RunQueue;
  readonly #agents: Map<string, Agent>;
  readonly #options: ResolvedWorkerOptions;
  readonly #emit: (event: WorkerEvent) => void;
  readonly #onClose: () => Promise<void>;
  readonly #slots = new Map<string, Slot>();
  readonly #timers: NodeJS.Timeout[] = [];
  #pollTimer: NodeJS.Timeout | undefined;
  #draining = false;
  #stopping: Promise<void> | undefined;
  #closed!: () => void;
  #turn = 0;
  #renewing = false;
  #reaping = false;

  /** Use `startWorker`. */
  constructor(store: PostgresStore, queue: RunQueue, agents: Agent[], options: ResolvedWorkerOptions, onEvent: ((event: WorkerEvent) => void) | undefined, onClose: () => Promise<void>) {
    this.#store = store;
    this.#leases = store.leases();
    this.#queue = queue;
    this.#agents = new Map(agents.map((agent) => [queueName(agent), agent]));
    this.#options = options;
    this.#onClose = onClose;
    this.#emit = (event) => {
      try {
        onEvent?.(event);
      } catch {
        // A listener's failure is not the worker's: it keeps its runs.
      }
    };
    this.closed = new Promise((resolve) => (this.#closed = resolve));
  }

  /** How many runs this worker holds now. */
  get inFlight(): number {
    return this.#slots.size;
  }

  /** Starts polling, renewing and reaping; called once by `startWorker`. */
  start(): void {
    const { leaseMs } = this.#options;
    this.#timers.push(setInterval(() => void this.#renew(), Math.max(50, leaseMs / 3)));
    // Reaping is one indexed query: done often, so that a dead worker's runs wait little past their lease.
    this.#timers.push(setInterval(() => void this.#reap(), Math.min(1_000, Math.max(50, leaseMs / 10))));
    this.#emit({ type: 'worker.started', workerId: this.id, queues: [...this.#agents.keys()] });
    void this.#poll();
  }

  async #poll(): Promise<void> {
    this.#pollTimer = undefined;
    if (this.#draining) return;
    let full = false;
    try {
      const names = [...this.#agents.keys()];
      // Round robin over the agents' queues, so that one busy agent does not starve the others.
      for (let i = 0; i < names.length && !this.#draining; i++) {
        const name = names[(this.#turn + i) % names.length]!;
        const free = this.#options.concurrency - this.#slots.size;
        if (free <= 0) break;
        // Agent limits shared by the fleet: no more tickets than they have room for (the lease's take checks again).
        const room = Math.min(free, (await this.#options.fleetLimits?.room(name)) ?? free);
        const tickets = room > 0 ? await this.#queue.take(name, room) : [];
        for (const ticket of tickets) void this.#take(ticket, this.#agents.get(name)!);
        full ||= tickets.length === free;
      }
      this.#turn++;
    } catch (error) {
      this.#emit({ type: 'worker.error', workerId: this.id, detail: `taking runs from the queue failed: ${message(error)}` });
    }
    if (!this.#draining) this.#pollTimer = setTimeout(() => void this.#poll(), full ? 0 : this.#options.pollMs);
  }

  async #take(ticket: TakenTicket, agent: Agent): Promise<void> {
    const { runId } = ticket;
    if (this.#slots.has(runId)) {
      // A ticket for a run this worker still has a slot for: most likely it lost the run (frozen, then
      // reaped) and has not noticed yet, so the ticket is the run's only way back. It goes back to the
      // queue, for a second later, when the old slot is gone.
      await this.#queue.retry(ticket).catch(() => {});
      return;
    }
    const slot: Slot = { runId, deadline: performance.now() + this.#options.leaseMs };
    this.#slots.set(runId, slot);
    try {
      let deferred: LeaseLimit | undefined;
      const limits = this.#options.fleetLimits?.taking((limit) => (deferred = limit));
      const lease = await this.#leases.acquire(runId, this.id, this.#options.leaseMs, (db) => this.#queue.complete(ticket, db), limits);
      if (deferred) this.#emit({ type: 'run.deferred', workerId: this.id, runId, limit: deferred.key, max: deferred.max });
      // Held live by another worker (it will settle or lose the run itself), never submitted, or over a limit.
      if (!lease) return;
      slot.lease = lease;
      await this.#runHeld(slot, lease, agent);
    } catch (error) {
      const lost = leaseLost(error);
      if (lost || slot.lost) {
        this.#emit({ type: 'lease.lost', workerId: this.id, runId, epoch: slot.lease?.epoch ?? 0, detail: slot.lost ?? lost!.message });
      } else {
        // Left to expire: the reaper of some worker gives the run a new ticket then, a lease timeout from now.
        this.#emit({ type: 'run.error', workerId: this.id, runId, detail: message(error) });
      }
    } finally {
      this.#slots.delete(runId);
    }
  }

  readonly #requeue = (db: SqlExecutor, next: Requeue, startAfter?: number) => this.#queue.requeue(next, db, startAfter);

  async #runHeld(slot: Slot, lease: Lease, agent: Agent): Promise<void> {
    const { runId } = slot;
    if (this.#draining) {
      await this.#leases.release(lease, this.#requeue);
      return;
    }
    const store = fencedStore(this.#store, runId, lease.epoch, (error) =>
      this.#emit({ type: 'append.refused', workerId: this.id, runId, epoch: lease.epoch, detail: error.message }),
    );
    const [header, summary] = await Promise.all([store.header(runId), store.summary(runId)]);
    if (header.agent.id !== agent.name || header.agent.version !== agent.version) {
      await this.#leases.release(lease);
      this.#emit({ type: 'run.error', workerId: this.id, runId, detail: `Run ${runId} is of agent ${header.agent.id}@${header.agent.version}, but its ticket came from the queue of ${agent.name}@${agent.version}: the run was left as it is.` });
      return;
    }
    // Decisions queued for the run: sent to it below, or cleared when they came after its end.
    const queued = summary.status === 'waiting' || ENDED.has(summary.status) ? await this.#leases.decisions(runId) : [];
    if (ENDED.has(summary.status)) {
      await this.#leases.releaseWaiting(lease, queued.map((row) => row.id), undefined, this.#requeue);
      return;
    }
    if (summary.status === 'waiting' && queued.length === 0) {
      // A waiting run is resumed only for a decision or a deadline due by the database's clock. Any other
      // ticket (a duplicate, a worker that died while letting go of it) leaves it waiting, with its
      // deadline's ticket scheduled again.
      const wake = wakeAt(((await stateAt(store, runId, summary.lastSeq)) as { context?: AgentContext }).context);
      if (wake === undefined || !(await this.#leases.passed(wake))) {
        await this.#leases.releaseWaiting(lease, [], wake, this.#requeue);
        return;
      }
    }
    const resumed = summary.lastSeq >= 0;
    // Read before the run starts: nothing awaited between its start and the listener below, or its first events go unheard.
    const superseded = queued.length ? await supersededBy(store, runId, queued) : undefined;
    const { modelLimits } = this.#options;
    const holds = () => this.#holds(slot);
    const run = resumed ? await resumeRun(agent, runId, { store, takeOver: true, modelLimits, holds }) : startQueuedRun(agent, header, { store, modelLimits, holds });
    slot.run = run;
    if (slot.lost) run.abandon(new LeaseLostError(runId, lease.epoch, {}));
    if (this.#draining) void run.pause().then(() => (slot.paused = true));
    this.#emit({ type: 'run.taken', workerId: this.id, runId, epoch: lease.epoch, resumed });
    let sent: SentDecisions | undefined;
    if (queued.length) {
      sent = sendDecisions(run, queued, superseded);
      this.#emit({ type: 'run.decided', workerId: this.id, runId, applied: sent.applied, refused: sent.refused });
    }
    let asked = false;
    let detaching = false;
    const letGo = () => {
      if (!asked || detaching || run.busy || run.pendingApprovals.length === 0 || keepsWaiting(run, sent)) return;
      detaching = true;
      void run.detach().catch(() => {});
    };
    run.on((event) => {
      // A run that waits for people holds no worker: let go once no agent of it is working.
      if (event.type === 'approval.requested') asked = true;
      else if (event.type !== 'state') return;
      letGo();
    });
    // A decision the run took no notice of (refused, dropped as stale, or refused by its machine) leaves it
    // waiting as it was, with no request for approval to come: it does not hold the worker for long.
    const unheld = sent ? setTimeout(() => ((asked = true), sent!.calls.clear(), letGo()), this.#options.leaseMs) : undefined;
    const result = await run.result.finally(() => clearTimeout(unheld));
    if (result.status === 'released') {
      await this.#leases.release(lease, this.#requeue);
      this.#emit({ type: 'run.released', workerId: this.id, runId });
      return;
    }
    const wake = result.status === 'waiting' ? wakeAt(run.context) : undefined;
    await this.#leases.releaseWaiting(lease, sent?.settled ?? [], wake, this.#requeue);
    if (wake !== undefined) this.#emit({ type: 'run.scheduled', workerId: this.id, runId, wakeAt: wake });
    this.#emit({ type: 'run.ended', workerId: this.id, runId, status: result.status, output: result.output });
  }

  /** Renews every lease held; a run whose lease was not renewed (or whose lease ran out here, unrenewed) is stopped without another write. */
  async #renew(): Promise<void> {
    // One renewal at a time: a slow one is not overtaken by the next.
    if (this.#renewing) return;
    this.#renewing = true;
    try {
      await this.#renewHeld();
    } finally {
      this.#renewing = false;
    }
  }

  async #renewHeld(): Promise<void> {
    const held = [...this.#slots.values()].filter((slot) => slot.lease && !slot.lost);
    if (held.length === 0) return;
    const asked = performance.now();
    let renewed: Set<string> | undefined;
    try {
      renewed = await this.#leases.renew(this.id, held.map((slot) => ({ runId: slot.runId, epoch: slot.lease!.epoch })), this.#options.leaseMs);
    } catch (error) {
      this.#emit({ type: 'worker.error', workerId: this.id, detail: `renewing leases failed: ${message(error)}` });
    }
    const now = performance.now();
    for (const slot of held) {
      if (renewed?.has(slot.runId)) slot.deadline = asked + this.#options.leaseMs;
      else if (renewed || now >= slot.deadline) this.#lose(slot, renewed ? 'the lease was not renewed: it expired or another worker took the run' : 'the lease ran out while the database could not be reached');
    }
  }

  /** Whether the lease is surely still held, by this process's own clock: a side effect starts only then. */
  #holds(slot: Slot): boolean {
    if (slot.lost) return false;
    // The database counts the lease from when it renewed it, which is after `deadline` was measured from.
    if (performance.now() < slot.deadline) return true;
    this.#lose(slot, 'the lease ran out (the process was frozen or too busy to renew it) before a side effect could start, so it was not started');
    return false;
  }

  #lose(slot: Slot, why: string): void {
    if (slot.lost) return;
    slot.lost = `Run ${slot.runId}: this worker lost its lease (epoch ${slot.lease?.epoch}): ${why}. It stopped running the run; the store refuses any append under that lease.`;
    slot.run?.abandon(new LeaseLostError(slot.runId, slot.lease?.epoch, {}, { cause: new Error(slot.lost) }));
  }

  async #reap(): Promise<void> {
    if (this.#reaping) return;
    this.#reaping = true;
    try {
      await this.#leases.reap(100, async (db, runs) => {
        for (const run of runs) await this.#requeue(db, run);
      });
    } catch (error) {
      this.#emit({ type: 'worker.error', workerId: this.id, detail: `reaping expired leases failed: ${message(error)}` });
    } finally {
      this.#reaping = false;
    }
  }

  /**
   * Drains the worker: it takes no more runs, gives the runs in flight `graceMs` to end, wait, or reach
   * their next model request, then releases them where they stand (their leases released and their
   * tickets sent, so that another worker continues them at once), and stops. Safe to call twice.
   */
  stop(): Promise<void> {
    this.#stopping ??= this.#drain();
    return this.#stopping;
  }

  async #drain(): Promise<void> {
    this.#draining = true;
    clearTimeout(this.#pollTimer);
    this.#emit({ type: 'worker.draining', workerId: this.id, inFlight: this.#slots.size });
    for (const slot of this.#slots.values()) if (slot.run) void slot.run.pause().then(() => (slot.paused = true));
    const until = performance.now() + this.#options.graceMs;
    while (performance.now() < until && [...this.#slots.values()].some((slot) => !slot.paused)) await delay(20);
    // Runs still being taken when the grace ended are released as soon as they start.
    const released = new Set<Run>();
    while (this.#slots.size > 0) {
      for (const { run } of this.#slots.values()) {
        if (!run || released.has(run)) continue;
        released.add(run);
        void run.release().catch(() => {});
      }
      await delay(20);
    }
    for (const timer of this.#timers) clearInterval(timer);
    await this.#queue.close().catch(() => {});
    await this.#onClose().catch(() => {});
    this.#emit({ type: 'worker.stopped', workerId: this.id });
    this.#closed();
  }
}
