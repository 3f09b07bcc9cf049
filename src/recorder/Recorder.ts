import type { MachineEntry } from '../log/format/machineEntry.ts';
import { keepMachines } from '../log/stores/machineGraphs.ts';
import type { AnyActor } from 'xstate';
import { ConflictError, StorageError } from '../errors.ts';
import { unsealedRecord } from '../log/format/makeRecord.ts';
import type { Redactor } from '../credentials/Redactor.ts';
import { sealLazily, type Operation, type RunHeader, type RunRecord, type RunSummary } from '../log/format/record.ts';
import { newRunSummary, type RunStore } from '../log/stores/runStore.ts';
import { jsonTextOf } from '../log/format/patch.ts';
import { persistedSnapshot } from './persistedSnapshot.ts';
import { STATE_INDEX_EVERY, StateIndexWriter, type StatePoint } from '../log/reads/stateIndex.ts';
import { summarize } from '../log/stores/summarize.ts';
import { OWNER_RENEW_MS, releaseOwner } from './owner.ts';
import type { RunOwner } from '../log/format/record.ts';
import { metaOf } from './recordMeta.ts';
import { LeaseLostError } from '../log/format/storageErrors.ts';

export interface RecorderOptions {
  store: RunStore;
  runId: string;
  /**
   * A keyframe (a full snapshot in the record, checksummed and exported with it) is written once the
   * patches since the last one add up to this multiple of the snapshot's size (default 4), or after
   * `maxPatchesPerKeyframe` records (no limit by default: a count limit would make keyframes, whose
   * size grows with the run, quadratic in total). Storage stays linear in the run's length. Reads go
   * through the store's state index (`stateIndexEvery`); keyframes are what a store without one, or
   * an exported run, starts from.
   */
  keyframeRatio?: number;
  maxPatchesPerKeyframe?: number;
  /** Secret values seen by this run's tools are replaced in every record before it is written. */
  redactor?: Redactor;
  /**
   * Every this many records the full state also goes to the store's state index (default 64; 0 for
   * none), which shares unchanged parts between entries: reading any point then steps at most this
   * many records forward from an indexed state.
   */
  stateIndexEvery?: number;
  /**
   * The process running the run, written to its summary while its status is running and renewed
   * while it waits on a long call, so that another process does not continue it meanwhile.
   */
  owner?: RunOwner;
  /** How often the owner's claim is renewed while nothing else is written (default OWNER_RENEW_MS). */
  renewEveryMs?: number;
  /**
   * A record is written within this many milliseconds (default 20), and at once when something waits
   * for it: an effect about to start (a model request or a tool, through `durable()`), a checkpoint
   * (waiting for people, or final). Records of transitions close together then share one commit: a
   * tool's result with the steps up to the next model request, the model's answer with the tool starts
   * it asks for. A crash loses at most this window of records, none of which an effect depended on;
   * resume repeats them.
   */
  writeWithinMs?: number;
}

type Event = { type: string } & Record<string, unknown>;

/** What `record` wrote: the record's number and its patch (redacted as stored), with the size of the patch's JSON. */
export interface RecordedPatch {
  seq: number;
  patch: readonly Operation[];
  patchBytes: number;
}

/** See `RecorderOptions.writeWithinMs`. */
const WRITE_WITHIN_MS = 20;

/** A continued snapshot is measured once the patches since could outweigh a snapshot of this size. */
const UNMEASURED_BELOW = 16 * 1024;

/** Turns each transition of a run's root actor into a record appended to the store, in order. */
export class Recorder {
  readonly store: RunStore;
  readonly runId: string;
  private readonly keyframeRatio: number;
  private readonly maxPatches: number;
  private readonly redactor: Redactor | undefined;
  private nextSeq = 0;
  private previous: unknown;
  private patchBytes = 0;
  private snapshotBytes = 0;
  /** After a resume or fork: the snapshot continued from, measured only once the patches since could outweigh it. */
  private unmeasured: unknown;
  private patchesSinceKeyframe = 0;
  private queue: { record: RunRecord; snapshot: unknown; point?: StatePoint; summary?: Partial<RunSummary> }[] = [];
  private readonly stateIndexEvery: number;
  private readonly stateIndex = new StateIndexWriter();
  private writing: Promise<void> = Promise.resolve();
  private failure: unknown;
  private syncNext = false;
  private synced = true;
  /** The seq after the last record the store holds. */
  private written = 0;
  private readonly owner: RunOwner | undefined;
  private readonly renewEveryMs: number;
  private readonly writeWithinMs: number;
  /** Writes what is queued once `writeWithinMs` has passed since the first of it was queued. */
  private writeTimer: NodeJS.Timeout | undefined;
  /** A write of the queue is chained on `writing` and has not started yet. */
  private writeChained = false;
  private renewTimer: NodeJS.Timeout | undefined;
  private lastWriteAt = 0;
  /** Whether the store's summary names this recorder's owner; unknown until the first write (a crashed process may be named). */
  private claimed: boolean | undefined;

  constructor(options: RecorderOptions) {
    this.store = options.store;
    this.runId = options.runId;
    this.keyframeRatio = options.keyframeRatio ?? 4;
    this.maxPatches = options.maxPatchesPerKeyframe ?? Number.POSITIVE_INFINITY;
    this.redactor = options.redactor;
    this.stateIndexEvery = options.stateIndexEvery ?? STATE_INDEX_EVERY;
    this.owner = options.owner;
    this.renewEveryMs = options.renewEveryMs ?? OWNER_RENEW_MS;
    this.writeWithinMs = options.writeWithinMs ?? WRITE_WITHIN_MS;
  }

  /**
   * The run has settled: its claim is no longer renewed, and this process no longer counts it as its
   * own (the last write cleared it from the summary, unless the run stopped while running).
   */
  close(): void {
    this.stopRenewing();
    if (this.owner) releaseOwner(this.owner);
  }

  private stopRenewing(): void {
    clearInterval(this.renewTimer);
    this.renewTimer = undefined;
  }

  /**
   * Create the run in the store; the first transition recorded (the initial state) is a keyframe. The
   * module the run is started from (`labels.module`) is recorded as the store's own fact, which is what
   * lets a later process load that module for the run: the header's copy travels with exports.
   */
  async begin(header: RunHeader, machines: readonly MachineEntry[] = [], created = false): Promise<void> {
    const module = header.labels?.module;
    // Kept before the run exists, so that a page drawing the run finds its statechart.
    await keepMachines(this.store, machines);
    if (created) return;
    await this.store.createRun(header, { ...newRunSummary(header), ...(module ? { agentModule: module } : {}) });
  }

  /** Continue an existing run after its last record (resume and fork). */
  continueFrom(lastSeq: number, snapshot: unknown): void {
    this.nextSeq = lastSeq + 1;
    this.written = lastSeq + 1;
    this.previous = snapshot;
    // Serializing a long run's state only to measure it would cost milliseconds on the way to its
    // next step; it is measured once the patches since reach a size where it could matter.
    this.unmeasured = snapshot;
    this.snapshotBytes = Number.POSITIVE_INFINITY;
  }

  /** Record one transition of the root actor; called synchronously from the inspection stream. */
  /** `keyframe` forces a full snapshot: at a checkpoint (waiting for people, or final) a run is likely to be read or resumed. */
  record(actor: AnyActor, event: Event, meta?: RunRecord['meta'], options: { keyframe?: boolean } = {}): RecordedPatch | undefined {
    if (this.failure) return undefined;
    // Errors carry their message in non-enumerable properties, which JSON would drop.
    const error = event.error;
    const recorded = error instanceof Error ? { ...event, error: { name: error.name, message: error.message } } : event;
    const about = metaOf(event);
    return this.enqueue(recorded, persistedSnapshot(actor), options.keyframe ?? false, about && meta ? { ...about, ...meta } : (about ?? meta));
  }

  /**
   * Record an event that is not a transition (a resume, a fork): an empty patch, for the audit trail.
   * `summary` says what the listing facts become when the machine's state cannot (a run stopped from outside).
   */
  note(event: Event, summary?: Partial<RunSummary>): void {
    if (this.failure) return;
    this.enqueue(event, this.previous, false, undefined, summary);
  }

  /**
   * Resolves once every record so far is in the store; rejects if a write failed. With `sync`, the
   * records are also forced to disk (a side effect is about to start, or one that may not run twice
   * has finished, and must never be forgotten); a later `durable()` waits for that too.
   */
  durable(options: { sync?: boolean } = {}): Promise<void> {
    // Asked from inside a transition (XState starts a state's invoked actors before it reports the
    // state, and an event sent then is processed after it), the records of that transition and of
    // the events it caused are not queued yet; they are by the time the current call stack unwinds.
    return Promise.resolve().then(() => {
      if (options.sync) {
        if (this.queue.length) this.syncNext = true;
        // With nothing queued, the records may be in a write still under way, which may not sync:
        // whether they reached the disk is known once it ends.
        else this.writing = this.writing.then(() => this.syncNow());
      }
      this.writeSoon();
      return this.writing.then(() => {
        if (this.failure) throw this.failure;
      });
    });
  }

  private enqueue(event: Event, snapshot: unknown, forceKeyframe: boolean, meta?: RunRecord['meta'], summary?: Partial<RunSummary>): RecordedPatch {
    const seq = this.nextSeq++;
    if (this.unmeasured !== undefined && this.patchBytes >= this.keyframeRatio * UNMEASURED_BELOW) {
      this.snapshotBytes = JSON.stringify(this.unmeasured).length;
      this.unmeasured = undefined;
    }
    const keyframe =
      forceKeyframe ||
      this.patchesSinceKeyframe >= this.maxPatches ||
      this.patchBytes >= this.keyframeRatio * this.snapshotBytes;
    const state = (snapshot as { value: unknown }).value;
    const unsealed = unsealedRecord({ runId: this.runId, seq, event, state, previous: this.previous, snapshot, meta, keyframe });
    const record = sealLazily(this.redactor?.size ? (this.redactor.redactJson(unsealed) as typeof unsealed) : unsealed);
    let patchBytes: number | undefined;
    if (record.snapshot) {
      this.snapshotBytes = jsonTextOf.get(record.snapshot as object)?.length ?? JSON.stringify(record.snapshot).length;
      this.unmeasured = undefined;
      this.patchBytes = 0;
      this.patchesSinceKeyframe = 0;
    } else {
      const patchText = JSON.stringify(record.patch);
      // The store writes this text rather than serializing the patch again.
      jsonTextOf.set(record.patch, patchText);
      this.patchBytes += patchText.length;
      this.patchesSinceKeyframe++;
      patchBytes = patchText.length;
    }
    this.previous = snapshot;
    const indexed = this.stateIndexEvery > 0 && seq > 0 && seq % this.stateIndexEvery === 0;
    const point = indexed ? this.stateIndex.point(seq, this.redactor?.size ? this.redactor.redactJson(snapshot) : snapshot) : undefined;
    this.queue.push({ record, snapshot, point, summary });
    if (forceKeyframe) this.writeSoon();
    else if (!this.writeTimer && !this.writeChained) this.writeTimer = setTimeout(() => this.writeSoon(), this.writeWithinMs);
    // A keyframe's patch is measured only when asked: nothing else serializes it on the way to the store.
    return {
      seq,
      patch: record.patch,
      get patchBytes() {
        return (patchBytes ??= JSON.stringify(record.patch).length);
      },
    };
  }

  /**
   * Chains a write of the queue on the next turn of the event loop, so that the records of one burst
   * of transitions share a transaction; `durable()` waits for it.
   */
  private writeSoon(): void {
    clearTimeout(this.writeTimer);
    this.writeTimer = undefined;
    if (this.writeChained || this.queue.length === 0) return;
    this.writeChained = true;
    this.writing = this.writing
      .then(() => new Promise((resolve) => setImmediate(resolve)))
      .then(() => {
        this.writeChained = false;
        return this.flush();
      });
  }

  private async syncNow(): Promise<void> {
    if (this.failure || this.synced) return;
    if (this.queue.length) {
      this.syncNext = true;
      return this.flush();
    }
    try {
      await this.store.append(this.runId, [], { expectedSeq: this.written, sync: true });
      this.synced = true;
    } catch (error) {
      this.failure = error instanceof ConflictError ? this.overtaken(this.written, error) : error;
    }
  }

  /** Another writer appended to this run first: said so in the words of whoever runs it. */
  private overtaken(seq: number, error: ConflictError): ConflictError {
    // A worker's lease was lost: the store's error says so, in a worker's terms.
    if (error instanceof LeaseLostError) return error;
    return new ConflictError(
      `Run ${this.runId} was continued by another process (or another handle) at the same time, which recorded first; ` +
        `nothing this one did from record ${seq} on was stored. See where the run stands with: npx statecraft history ${this.runId} --last 10`,
      { cause: error },
    );
  }

  /** After a write: while the run is running, its claim is renewed whenever nothing else was written for `renewEveryMs`. */
  private renewing(running: boolean): void {
    this.lastWriteAt = Date.now();
    if (!running) return this.stopRenewing();
    if (this.renewTimer) return;
    this.renewTimer = setInterval(() => {
      if (this.failure) return this.stopRenewing();
      if (this.queue.length > 0 || Date.now() - this.lastWriteAt < this.renewEveryMs) return;
      this.lastWriteAt = Date.now();
      this.writing = this.writing.then(() => this.renew());
    }, this.renewEveryMs);
    this.renewTimer.unref();
  }

  /**
   * Gives up the run's claim when nothing was written since it was made (a resumed run that waits
   * again at once): the summary says what the last state says (waiting), naming no process.
   */
  async release(): Promise<void> {
    await this.durable();
    if (!this.claimed) return;
    this.stopRenewing();
    this.writing = this.writing.then(async () => {
      if (this.failure || !this.claimed) return;
      try {
        await this.store.append(this.runId, [], { expectedSeq: this.written, summary: { ...summarize(this.previous as never), owner: undefined } });
        this.claimed = false;
      } catch (error) {
        this.failure = error instanceof ConflictError ? this.overtaken(this.written, error) : error;
      }
    });
    await this.durable();
  }

  private async renew(): Promise<void> {
    if (this.failure || this.queue.length > 0 || !this.renewTimer) return;
    try {
      await this.store.append(this.runId, [], { expectedSeq: this.written, summary: { owner: this.owner } });
    } catch (error) {
      this.failure = error instanceof ConflictError ? this.overtaken(this.written, error) : error;
    }
  }

  private async flush(): Promise<void> {
    while (this.queue.length > 0 && !this.failure) {
      const batch = this.queue;
      const sync = this.syncNext;
      this.queue = [];
      this.syncNext = false;
      try {
        // The listing facts are read off the batch's last snapshot only: one summary per write.
        const facts: Partial<RunSummary> = { ...summarize(batch.at(-1)!.snapshot as never), ...batch.at(-1)!.summary, lastSeq: batch.at(-1)!.record.seq };
        // Read off the state, not the records: its texts (a stop's detail, waiting calls' arguments) are redacted here.
        const summary = this.redactor?.size ? this.redactor.redactJson(facts) : facts;
        const running = summary.status === 'running' && this.owner !== undefined;
        // The claim changes only when the run starts or stops running; renewals keep it between.
        if (this.owner && running !== this.claimed) summary.owner = running ? this.owner : undefined;
        await this.store.append(this.runId, batch.map((item) => item.record), {
          expectedSeq: batch[0]!.record.seq,
          summary,
          sync,
          points: batch.flatMap((item) => (item.point ? [item.point] : [])),
        });
        this.synced = sync;
        this.written = batch.at(-1)!.record.seq + 1;
        this.claimed = running;
        this.renewing(running);
      } catch (error) {
        this.failure =
          error instanceof ConflictError
            ? this.overtaken(batch[0]!.record.seq, error)
            : error instanceof StorageError
              ? error
              : new StorageError(`Run ${this.runId}: writing records ${batch[0]!.record.seq}-${batch.at(-1)!.record.seq} failed: ${(error as Error).message}`, { cause: error });
      }
    }
  }
}

