import { createHash } from 'node:crypto';
import { z } from 'zod';
import { UserError } from '../../errors.ts';
import { findUnsafePath } from './patch.ts';
import { CorruptRecordError, UnsafePatchError, UnsupportedFormatError } from './storageErrors.ts';
import { IsoTime, wellFormedHeader, wellFormedRecord, wellFormedSummary } from './wellFormed.ts';
import { canonicalJson, describeValue, NonJsonError } from './canonicalJson.ts';
import { MachineRefSchema } from './machineEntry.ts';

/** The record format version (`v`) this build writes and reads. */
export const FORMAT_VERSION = 1;

/**
 * The run format (a header's `format`) from which records are chained and a header always carries its
 * checksum (see chain.ts). Format 2 was never written: a frozen fixture
 * (test/fixtures/logs/unknown-version.jsonl) stands under that number for a version this build does not know.
 */
export const CHAINED_FORMAT = 3;
/** The run format this build writes. Runs of format 1 (records checksummed one by one) are still read and continued. */
export const RUN_FORMAT = CHAINED_FORMAT;
/** The run formats this build reads. */
export const RUN_FORMATS: readonly number[] = [1, CHAINED_FORMAT];

/** A JSON value, as stored in the log. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const JsonSchema = z.custom<Json>((value) => value !== undefined, { message: 'expected a JSON value' });

const Pointer = z.string().refine((p) => p === '' || p.startsWith('/'), { message: 'a JSON pointer starts with "/"' });

export const OperationSchema = z.discriminatedUnion('op', [
  z.object({ op: z.literal('add'), path: Pointer, value: JsonSchema }),
  z.object({ op: z.literal('remove'), path: Pointer }),
  z.object({ op: z.literal('replace'), path: Pointer, value: JsonSchema }),
  z.object({ op: z.literal('move'), from: Pointer, path: Pointer }),
  z.object({ op: z.literal('copy'), from: Pointer, path: Pointer }),
  z.object({ op: z.literal('test'), path: Pointer, value: JsonSchema }),
]);
/** One RFC 6902 operation. */
export type Operation = z.infer<typeof OperationSchema>;

const RunRef = z.object({ runId: z.string().min(1), seq: z.number().int().nonnegative() });
/** The process a running run lives in (see src/runtime/owner.ts): its host, its pid, and the Run's own id. */
const RunOwnerSchema = z.object({ host: z.string().min(1), pid: z.number().int().positive(), id: z.string().min(1) });
export type RunOwner = z.infer<typeof RunOwnerSchema>;

export const RunHeaderSchema = z.object({
  format: z.union([z.literal(1), z.literal(CHAINED_FORMAT)]),
  runId: z.string().min(1),
  agent: z.object({ id: z.string(), version: z.string() }),
  machine: z.object({ id: z.string(), hash: z.string() }),
  model: z.object({ provider: z.string(), model: z.string(), params: z.record(z.string(), z.unknown()) }),
  parent: RunRef.optional(),
  createdAt: IsoTime,
  input: z.unknown().optional(),
  labels: z.record(z.string(), z.string()).optional(),
  /** The W3C trace context of the run's first span, so that a resumed run continues the same trace. */
  traceparent: z.string().optional(),
  /**
   * The machines of the agents the run's machine invokes, by the path of their actor names (`writer`,
   * `writer/checker`): with `machine`, what the run's statecharts are drawn from (see machineEntry.ts).
   */
  invoked: z.record(z.string(), MachineRefSchema).optional(),
  /** Over every other field, added by the store that creates the run (`sealHeader`); always there from format 3, absent in some runs of format 1. */
  checksum: z.string().min(1).optional(),
});
/** What a run is: agent, machine and model fingerprints, parent link; written once at creation. */
export type RunHeader = z.infer<typeof RunHeaderSchema>;

export const RecordMetaSchema = z.looseObject({
  durationMs: z.number().nonnegative().optional(),
  usage: z.object({ inputTokens: z.number().int().nonnegative(), outputTokens: z.number().int().nonnegative() }).optional(),
  model: z.string().optional(),
});

export const RunRecordSchema = z.object({
  v: z.literal(FORMAT_VERSION),
  runId: z.string().min(1),
  seq: z.number().int().nonnegative(),
  time: IsoTime,
  event: z.looseObject({ type: z.string() }),
  state: JsonSchema,
  patch: z.array(OperationSchema),
  snapshot: JsonSchema.optional(),
  meta: RecordMetaSchema.optional(),
  checksum: z.string().min(1),
});
/** One transition of a run: the event, the state value after it, and the patch from the previous snapshot. */
export type RunRecord = z.infer<typeof RunRecordSchema>;
/** A record before `sealRecord` adds its checksum. */
export type UnsealedRecord = Omit<RunRecord, 'checksum'>;

/**
 * `created`: a fork never started (resume it to start it); `queued`: submitted to the workers' queue
 * (`submitRun`), no worker has started it yet; `waiting`: waiting for a decision, held by no process.
 */
export const RUN_STATUSES = ['created', 'queued', 'running', 'waiting', 'done', 'failed', 'halted', 'cancelled'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];
/** The statuses of a run that has ended: nothing more happens to it but a fork. */
export const ENDED_STATUSES: readonly RunStatus[] = ['done', 'failed', 'halted', 'cancelled'];

export const RunSummarySchema = z.object({
  runId: z.string().min(1),
  agentId: z.string(),
  status: z.enum(RUN_STATUSES),
  steps: z.number().int().nonnegative(),
  inputTokens: z.number().int().nonnegative(),
  outputTokens: z.number().int().nonnegative(),
  costUsd: z.number().nonnegative(),
  lastSeq: z.number().int().min(-1),
  createdAt: IsoTime,
  updatedAt: IsoTime,
  parent: RunRef.optional(),
  waitingOn: z.unknown().optional(),
  reason: z.string().optional(),
  /** How many times the run's tail was cut back (`statecraft repair`); cached reads of the run start over when it changes. */
  truncations: z.number().int().nonnegative().optional(),
  /** While the run is running: the process it runs in, which renews `updatedAt` at least every few seconds. */
  owner: RunOwnerSchema.optional(),
  /**
   * The agent module this store loads the run's code from: recorded by the store's own writer when the
   * run is started here (or forked from such a run), or set by `statecraft trust`; never taken from
   * a log, so an imported run has none until a user names one.
   */
  agentModule: z.string().min(1).optional(),
  /**
   * Set by `listRuns` only, never stored: the run's stored summary cannot be read (this says why and
   * what to do), so its listing holds what the store indexes (status, agent, times) and zero counts.
   */
  damaged: z.string().optional(),
});
/** The mutable facts about a run that listings need; `lastSeq` is -1 before the first record. */
export type RunSummary = z.infer<typeof RunSummarySchema>;

/** Where a record or header came from, for error messages. */
export interface RecordLocation {
  runId?: string;
  seq?: number;
}

/** The checksum of every field but the checksum itself (read without touching it: it may not be worked out yet). */
function checksumOf(record: UnsealedRecord): string {
  const rest: Record<string, unknown> = {};
  for (const key of Object.keys(record)) if (key !== 'checksum') rest[key] = (record as Record<string, unknown>)[key];
  return createHash('sha256').update(canonicalJson(rest)).digest('hex').slice(0, 16);
}

function label(where: RecordLocation, found?: { runId?: unknown; seq?: unknown }): string {
  const runId = where.runId ?? (typeof found?.runId === 'string' ? found.runId : '?');
  const seq = where.seq ?? (typeof found?.seq === 'number' ? found.seq : '?');
  return `Run "${runId}" record ${seq}`;
}

/** What a message about a damaged record tells the user to do: repair says whether the run can be cut back, and to which record. */
export const repairHint = (runId: string | undefined): string =>
  `see what can be recovered with \`npx statecraft repair ${runId ?? '<run>'}\`, or restore the run from a backup`;

/** The checksum of a record of a run of format 1: over its content alone. */
export const contentChecksum = (record: UnsealedRecord): string => plainChecksumOf(record);

/** Adds the checksum to a record; throws UserError when the record holds a non-JSON value. */
export function sealRecord(record: UnsealedRecord): RunRecord {
  return { ...record, checksum: plainChecksumOf(record) };
}

function plainChecksumOf(record: UnsealedRecord): string {
  try {
    return checksumOf(record);
  } catch (error) {
    if (!(error instanceof NonJsonError)) throw error;
    throw new UserError(
      `${label({}, record)} holds a ${error.message}; records must be plain JSON: convert the value (for example a Date to an ISO string) before recording it.`,
    );
  }
}

const lazilySealed = new WeakSet<object>();

/**
 * Seals a record of plain JSON whose checksum is worked out when first read. Stores keep no checksum
 * (each stored text carries its codec's own check), so recording never needs it; an export, or any
 * reader of `checksum`, gets the same value `sealRecord` gives. The record is changed in place.
 */
export function sealLazily<T extends UnsealedRecord>(record: T): T & RunRecord {
  let checksum: string | undefined;
  Object.defineProperty(record, 'checksum', {
    enumerable: true,
    configurable: true,
    // A method, not an arrow function: tsx names arrow functions with a defineProperty each time one is made.
    get() {
      return (checksum ??= plainChecksumOf(record));
    },
  });
  lazilySealed.add(record);
  return record as T & RunRecord;
}

/** Whether a record's checksum is worked out from its content when read (`sealLazily`), not stored with it. */
export const isLazilySealed = (record: RunRecord): boolean => lazilySealed.has(record);

/** Whether a record is sealed, without working out a lazily sealed record's checksum. */
export const isSealed = (record: RunRecord): boolean => lazilySealed.has(record) || (typeof record.checksum === 'string' && record.checksum !== '');

function formatIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`)
    .join('; ');
}

/** What zod makes of a value the hand check in wellFormed.ts did not accept: the parsed value, or the error `refuse` builds. */
function zodParse<T>(schema: z.ZodType<T>, json: unknown, refuse: (error: z.ZodError) => Error): T {
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw refuse(parsed.error);
  return parsed.data;
}

/**
 * Validates a stored record (format version, shape, checksum, safe patch paths) and returns it typed;
 * `hint` says what to do about a damaged record (default: restore or repair the run in its store).
 */
export function parseRecord(json: unknown, where: RecordLocation = {}, options: { verifyChecksum?: boolean; hint?: string } = {}): RunRecord {
  const raw = (typeof json === 'object' && json !== null ? json : {}) as Record<string, unknown>;
  const runId = where.runId ?? (typeof raw.runId === 'string' ? raw.runId : undefined);
  const hint = (): string => options.hint ?? repairHint(runId);
  const at = { runId, seq: where.seq ?? (typeof raw.seq === 'number' ? raw.seq : undefined) };
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new CorruptRecordError(`${label(where)} is not a JSON object (found ${describeValue(json)}): ${hint()}.`, at);
  }
  if (raw.v !== FORMAT_VERSION) {
    const found = raw.v === undefined ? 'no format version' : `format version ${JSON.stringify(raw.v)}`;
    throw new UnsupportedFormatError(
      `${label(where, raw)} has ${found}, but this build of Statecraft reads format version ${FORMAT_VERSION} only: upgrade Statecraft to read this run.`,
      at,
      raw.v,
      FORMAT_VERSION,
    );
  }
  const record = wellFormedRecord(json) ?? zodParse(RunRecordSchema, json, (error) =>
    new CorruptRecordError(`${label(where, raw)} does not match the record format (${formatIssues(error)}): ${hint()}.`, at),
  );
  if ((where.runId !== undefined && record.runId !== where.runId) || (where.seq !== undefined && record.seq !== where.seq)) {
    throw new CorruptRecordError(
      `${label(where)} holds the record of run "${record.runId}" seq ${record.seq}: the log was altered; ${hint()}.`,
      at,
    );
  }
  let computed: string;
  try {
    computed = options.verifyChecksum === false ? record.checksum : checksumOf(record);
  } catch (error) {
    if (!(error instanceof NonJsonError)) throw error;
    throw new CorruptRecordError(`${label(where, raw)} holds a ${error.message}: ${hint()}.`, at);
  }
  if (computed !== record.checksum) {
    throw new CorruptRecordError(
      `${label(where, raw)} fails its checksum (stored ${record.checksum}, computed ${computed}): the record was altered or corrupted; ${hint()}.`,
      at,
    );
  }
  const unsafe = findUnsafePath(record.patch);
  if (unsafe !== undefined) {
    throw new UnsafePatchError(
      `${label(where, raw)} has a patch path "${unsafe}" through __proto__, constructor or prototype, refused as unsafe: ${hint()}.`,
      unsafe,
      at,
    );
  }
  if (record.seq === 0 && (record.snapshot === undefined || record.patch.length > 0)) {
    throw new CorruptRecordError(
      `${label(where, raw)} must be a keyframe with an empty patch, found ${record.snapshot === undefined ? 'no snapshot' : `${record.patch.length} patch ops`}: ${hint()}.`,
      at,
    );
  }
  return record;
}

/** The header with its checksum worked out over every other field (a checksum it held before is replaced). */
export function sealHeader(header: RunHeader): RunHeader {
  const { checksum: _old, ...rest } = header;
  return { ...rest, checksum: checksumOf(rest as unknown as UnsealedRecord) };
}

/** Validates a stored run header (format version, shape and checksum); `unsealed` checks a header about to be sealed, which has none yet. */
export function parseHeader(json: unknown, where: RecordLocation = {}, options: { unsealed?: boolean } = {}): RunHeader {
  const raw = (typeof json === 'object' && json !== null ? json : {}) as Record<string, unknown>;
  const runId = where.runId ?? (typeof raw.runId === 'string' ? raw.runId : '?');
  if (!RUN_FORMATS.includes(raw.format as number)) {
    const found = raw.format === undefined ? 'no format version' : `format version ${JSON.stringify(raw.format)}`;
    throw new UnsupportedFormatError(
      `Run "${runId}" header has ${found}, but this build of Statecraft reads format versions ${RUN_FORMATS.join(' and ')} only: upgrade Statecraft to read this run.`,
      { runId },
      raw.format,
      RUN_FORMAT,
    );
  }
  const header =
    wellFormedHeader(json) ??
    zodParse(RunHeaderSchema, json, (error) =>
      new CorruptRecordError(`Run "${runId}" header does not match the header format (${formatIssues(error)}): restore the run from a backup.`, { runId }),
    );
  if (header.checksum === undefined && header.format >= CHAINED_FORMAT && !options.unsealed) {
    throw new CorruptRecordError(
      `Run "${runId}" header has no checksum, which every header of format ${header.format} carries: the field was removed or the header damaged, so the run cannot be trusted to resume or replay as recorded. Restore the run from a backup, or export it and check the header line by hand.`,
      { runId },
    );
  }
  if (header.checksum !== undefined && header.checksum !== checksumOf(header as unknown as UnsealedRecord)) {
    throw new CorruptRecordError(
      `Run "${runId}" header fails its checksum: its agent, machine, model or lineage were altered or damaged, so the run cannot be trusted to resume or replay as recorded. Restore the run from a backup, or export it and check the header line by hand.`,
      { runId },
    );
  }
  return header;
}

/** Validates a stored run summary. */
export function parseSummary(json: unknown, where: RecordLocation = {}): RunSummary {
  return wellFormedSummary(json) ?? zodParse(RunSummarySchema, json, (error) =>
    new CorruptRecordError(`Run "${where.runId ?? '?'}" summary does not match the summary format (${formatIssues(error)}).`, where),
  );
}
