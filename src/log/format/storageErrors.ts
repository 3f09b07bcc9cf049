import { ConflictError, StorageError, UserError } from '../../errors.ts';

/** No run with this id exists in the store. */
export class RunNotFoundError extends StorageError {
  readonly runId: string;
  constructor(runId: string) {
    super(`Run "${runId}" was not found in the store: check the id (list runs with \`npx statecraft runs\`) or the store location.`);
    this.runId = runId;
  }
}

/** The store asked for does not exist, and the caller did not want it created (a command that only reads). */
export class StoreNotFoundError extends UserError {}

/** A run with this id already exists, so it cannot be created again. */
export class RunExistsError extends StorageError {
  readonly runId: string;
  constructor(runId: string) {
    super(`Run "${runId}" already exists in the store: pick a new run id, or delete the old run first.`);
    this.runId = runId;
  }
}

/** The run has no record at the requested seq. */
export class RecordNotFoundError extends StorageError {
  readonly runId: string;
  readonly seq: number;
  constructor(runId: string, seq: number, lastSeq: number) {
    super(
      `Run "${runId}" has no record ${seq}: expected a seq from 0 to ${lastSeq}` +
        (lastSeq < 0 ? ' but the run has no records yet.' : '; ask for a seq in that range.'),
    );
    this.runId = runId;
    this.seq = seq;
  }
}

/** A stored record or header is damaged: unparseable, cut short, or failing its checksum. */
export class CorruptRecordError extends StorageError {
  readonly runId: string | undefined;
  readonly seq: number | undefined;
  constructor(message: string, where: { runId?: string; seq?: number } = {}, options?: ErrorOptions) {
    super(message, options);
    this.runId = where.runId;
    this.seq = where.seq;
  }
}

/** A record or header was written in a format version this build does not read. */
export class UnsupportedFormatError extends CorruptRecordError {
  readonly found: unknown;
  readonly supported: number;
  constructor(message: string, where: { runId?: string; seq?: number }, found: unknown, supported: number) {
    super(message, where);
    this.found = found;
    this.supported = supported;
  }
}

/** A JSON patch path goes through `__proto__`, `constructor` or `prototype` and is refused. */
export class UnsafePatchError extends CorruptRecordError {
  readonly path: string;
  constructor(message: string, path: string, where: { runId?: string; seq?: number } = {}) {
    super(message, where);
    this.path = path;
  }
}

/** A JSON patch does not apply to the document it was given. */
export class InvalidPatchError extends StorageError {}

/**
 * An append was refused by the run's lease (fencing): the writer's lease is no longer the run's
 * current one (it expired by the database's clock, or another worker took the run over), or a writer
 * without a lease appended while a worker holds the run. Nothing of the batch was stored.
 */
export class LeaseLostError extends ConflictError {
  readonly runId: string;
  /** The epoch the writer appended with (undefined: none). */
  readonly epoch: number | undefined;
  constructor(runId: string, epoch: number | undefined, found: { epoch?: number | null; owner?: string | null; live?: boolean | null }, options?: ErrorOptions) {
    const holder = found.owner && found.live ? `worker ${found.owner} holds it (lease epoch ${found.epoch})` : `no worker holds it now (lease epoch ${found.epoch ?? 'none'}, expired or released)`;
    super(
      epoch === undefined
        ? `Run ${runId} is held by a worker: ${holder}, and only the lease holder may append to it. Let the worker run it, or stop that worker (it releases its runs on SIGTERM) and try again.`
        : `Run ${runId}: this writer's lease (epoch ${epoch}) is no longer the run's: ${holder}. Nothing was stored; this process must stop running the run, which continues under the current lease.`,
      options,
    );
    this.runId = runId;
    this.epoch = epoch;
  }
}
