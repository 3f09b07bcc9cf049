import type { KeyObject } from 'node:crypto';
import { summarize } from '../stores/summarize.ts';
import { applyPatchShared } from '../format/applyPatch.ts';
import { alteredDetail, ChainWalk } from '../format/chain.ts';
import { fileHint, lineOf, readExport, type ExportFile, type ReadExportOptions } from './exportFile.ts';
import { TrailerWriter } from './exportTrailer.ts';
import { RUN_STATUSES, sealRecord } from '../format/record.ts';
import type { Json, RunHeader, RunRecord, RunSummary } from '../format/record.ts';
import type { MachineEntry } from '../format/machineEntry.ts';
import { keepMachines } from '../stores/machineGraphs.ts';
import type { RunStore } from '../stores/runStore.ts';
import { indexRecords } from '../reads/stateIndex.ts';
import { CorruptRecordError, InvalidPatchError } from '../format/storageErrors.ts';

const PAGE = 500;

function missingRecord(runId: string, seq: number, lastSeq: number): CorruptRecordError {
  const fork = seq > 0 ? `, or fork it from the record before the gap (\`npx statecraft fork ${runId} --at ${seq - 1}\`) and export the fork` : '';
  return new CorruptRecordError(
    `Export of run "${runId}" stopped: record ${seq} is missing (the run's records should go from 0 to ${lastSeq}), so the file would not import. ` +
      `Restore the run from a backup${fork}.`,
    { runId, seq },
  );
}

/** What a stored record that does not hold its checksum means for an export. */
function alteredRecord(runId: string, seq: number, chained: boolean): CorruptRecordError {
  return new CorruptRecordError(
    `Export of run "${runId}" stopped: ${alteredDetail(seq, chained)}, so the file would not import. See what else changed with \`npx statecraft verify ${runId}\`, and restore the run from a backup.`,
    { runId, seq },
  );
}

/** Options of `exportRun`. */
export interface ExportOptions {
  /** Sign the trailer with this Ed25519 private key (see `signingKey`), so that `importRun` and `statecraft verify` can check who wrote the file. */
  signingKey?: KeyObject;
}

/**
 * Yields a run as JSON Lines: the header, each record in seq order, a `{"machine": …}` line for each graph the store
 * keeps of the run's machines, a `{"summary": …}` line, then a
 * `{"trailer": …}` line with the record count and the SHA-256 of every line before it (signed when
 * `signingKey` is given). Each record's checksum is checked on the way: an altered run is not exported.
 * The summary is read first and the records up to its last seq follow, so a run being appended to exports as it was then.
 * @example
 * for await (const line of exportRun(store, runId)) process.stdout.write(line);
 */
export async function* exportRun(store: RunStore, runId: string, options: ExportOptions = {}): AsyncIterable<string> {
  const header = await store.header(runId);
  const summary = await store.summary(runId);
  const trailer = new TrailerWriter();
  const chain = new ChainWalk(header);
  const line = (text: string, record = false): string => {
    trailer.add(text, record);
    return text;
  };
  yield line(`${JSON.stringify(header)}\n`);
  let next = 0;
  for (let from = 0; from <= summary.lastSeq; from += PAGE) {
    for (const record of await store.read(runId, { from, to: Math.min(summary.lastSeq, from + PAGE - 1) })) {
      if (record.seq !== next) throw missingRecord(runId, next, summary.lastSeq);
      if (!chain.holds(record)) throw alteredRecord(runId, record.seq, chain.chained);
      yield line(`${JSON.stringify(record)}\n`, true);
      next++;
    }
  }
  if (next !== summary.lastSeq + 1) throw missingRecord(runId, next, summary.lastSeq);
  for (const machine of await keptMachines(store, header)) yield line(`${JSON.stringify({ machine })}\n`);
  yield line(`${JSON.stringify({ summary })}\n`);
  yield trailer.line(options.signingKey);
}

/** The graphs the store keeps of the run's machine and of those of the agents it invokes, each version once. */
async function keptMachines(store: RunStore, header: RunHeader): Promise<MachineEntry[]> {
  if (!store.machine) return [];
  const refs = new Map([header.machine, ...Object.values(header.invoked ?? {})].map((ref) => [`${ref.id} ${ref.hash}`, ref]));
  const found = await Promise.all([...refs.values()].map((ref) => store.machine!(ref.id, ref.hash)));
  return found.filter((entry) => entry !== undefined);
}

/** Collects `exportRun` into one string. */
export async function exportRunText(store: RunStore, runId: string, options: ExportOptions = {}): Promise<string> {
  let text = '';
  for await (const line of exportRun(store, runId, options)) text += line;
  return text;
}

/** The state after the last record: each patch applied in order from the keyframes, refusing the first that does not apply. */
function finalState({ header, records }: ExportFile): Json {
  let doc = records[0]!.snapshot as Json;
  let owned = new WeakSet<object>();
  for (const record of records.slice(1)) {
    try {
      doc = applyPatchShared(doc, record.patch, owned);
    } catch (error) {
      if (!(error instanceof InvalidPatchError)) throw error;
      throw new CorruptRecordError(
        `Import refused at line ${lineOf(record.seq)}: Run "${header.runId}" record ${record.seq} has a patch that does not apply to the state before it (${error.message.replace(/\.$/, '')}); ${fileHint(lineOf(record.seq))}.`,
        { runId: header.runId, seq: record.seq },
        { cause: error },
      );
    }
    if (record.snapshot !== undefined) {
      doc = record.snapshot;
      owned = new WeakSet<object>();
    }
  }
  return doc;
}

type Facts = Pick<RunSummary, 'status' | 'steps' | 'inputTokens' | 'outputTokens' | 'costUsd' | 'waitingOn' | 'reason'>;

interface FinalState {
  status?: string;
  context?: { step?: unknown; usage?: { inputTokens?: unknown; outputTokens?: unknown }; costUsd?: unknown };
  output?: { status?: unknown; reason?: unknown; detail?: unknown; steps?: unknown; usage?: { inputTokens?: unknown; outputTokens?: unknown }; costUsd?: unknown };
}

const numberOr = (fallback: number, ...values: unknown[]): number => (values.find((value) => typeof value === 'number') as number | undefined) ?? fallback;

/** The run's status as its last state says it; a state that is no machine snapshot (no XState status) says nothing, and the summary line's is kept. */
function statusOf(state: FinalState, summarized: RunSummary['status'] | undefined, line: RunSummary | undefined): RunSummary['status'] {
  if (!['active', 'done', 'error', 'stopped'].includes(state.status as string)) return line?.status ?? 'halted';
  return RUN_STATUSES.includes(summarized as never) ? summarized! : 'done';
}

/**
 * The listing facts of an imported run, read off its last state as the recorder does (an agent's
 * context and output); a machine whose state holds no usage gets the usage its records carry.
 */
function factsOf(state: FinalState, records: RunRecord[], line: RunSummary | undefined): Facts {
  const { status, waitingOn } = summarize({ ...state, context: state.context ?? {} } as never);
  const usage = records.map((record) => record.meta?.usage).filter((u) => u !== undefined);
  const { context = {}, output } = state;
  const last = records.at(-1)!;
  const cancelled = last.event.type === 'statecraft.cancelled';
  return {
    status: cancelled ? 'cancelled' : statusOf(state, status, line),
    steps: numberOr(usage.length, context.step, output?.steps),
    inputTokens: numberOr(usage.reduce((sum, u) => sum + u.inputTokens, 0), context.usage?.inputTokens, output?.usage?.inputTokens),
    outputTokens: numberOr(usage.reduce((sum, u) => sum + u.outputTokens, 0), context.usage?.outputTokens, output?.usage?.outputTokens),
    // The log records no price but in an agent's state: a run of another machine keeps the one its summary line gives.
    costUsd: numberOr(line?.costUsd ?? 0, context.costUsd, output?.costUsd),
    ...(waitingOn !== undefined && !cancelled ? { waitingOn } : {}),
    ...(cancelled ? { reason: `cancelled: ${String(last.event.reason ?? '')}` } : {}),
    ...(!cancelled && state.status === 'done' && typeof output?.reason === 'string' ? { reason: `${output.reason}: ${String(output.detail ?? '')}` } : {}),
  };
}

/** Refuses a summary line that disagrees with the records on where the run ends or its status. */
function checkSummaryLine(file: ExportFile, derived: RunSummary): void {
  if (!file.summary) return;
  const { value, line } = file.summary;
  const runId = file.header.runId;
  const disagreement =
    value.lastSeq !== derived.lastSeq
      ? `says the last seq is ${value.lastSeq}, but the file holds records 0 to ${derived.lastSeq}`
      : value.status !== derived.status
        ? `says the run's status is ${value.status}, but its records end in status ${derived.status}`
        : undefined;
  if (disagreement === undefined) return;
  throw new CorruptRecordError(
    `Import refused at line ${line} (summary of run "${runId}"): the summary line ${disagreement}; the file was cut or edited. ` +
      'Export the run again, or remove the summary line (and the trailer) to import the run with a summary worked out from its records (with --partial).',
    { runId },
  );
}

const asObject = (json: Json): object => (typeof json === 'object' && json !== null && !Array.isArray(json) ? json : {});

function importedSummary(file: ExportFile): RunSummary {
  const { header, records } = file;
  const last = records.at(-1)!;
  return {
    runId: header.runId,
    agentId: header.agent.id,
    ...factsOf(asObject(finalState(file)) as FinalState, records, file.summary?.value),
    lastSeq: last.seq,
    createdAt: header.createdAt,
    updatedAt: last.time,
    ...(header.parent ? { parent: header.parent } : {}),
  };
}

/** Reads an export as `importRun` does (every line, the trailer, that each patch applies, the summary line), storing nothing. */
export function checkExport(text: string, options: ReadExportOptions = {}): { file: ExportFile; summary: RunSummary } {
  const file = readExport(text, options);
  const summary = importedSummary(file);
  checkSummaryLine(file, summary);
  return { file, summary };
}

/** Options of `importRun`: a new id for the run, and how the file is read (`ReadExportOptions`). */
export interface ImportOptions extends ReadExportOptions {
  newRunId?: string;
}

/**
 * Validates every line of an exported run (format, checksums and their chain, seq order, that each
 * patch applies, the trailer's count and checksum, and its signature when `verifyKey` is given) and
 * stores it, optionally under a new id. The summary is worked out from the records; a summary line
 * that disagrees with them on the last seq or the status is refused. A refused import stores nothing.
 * @example
 * const { runId } = await importRun(store, text, { newRunId: 'copy-1' });
 */
export async function importRun(store: RunStore, text: string, options: ImportOptions = {}): Promise<RunSummary> {
  const checked = checkExport(text, options);
  let { summary } = checked;
  let { header, records } = checked.file;
  const runId = options.newRunId ?? header.runId;
  if (runId !== header.runId) {
    header = { ...header, runId };
    // Sealed again for the new id (the store chains the records of a chained run as it writes them).
    records = records.map(({ checksum: _old, ...record }) => sealRecord({ ...record, runId }));
    summary = { ...summary, runId };
  }
  await keepMachines(store, checked.file.machines);
  await store.createRun(header, { ...summary, lastSeq: -1 });
  try {
    // The export leaves the state index out (it is derived): the importing store builds its own.
    await store.append(runId, records, { expectedSeq: 0, summary, points: indexRecords(records) });
  } catch (error) {
    await store.deleteRun(runId);
    throw error;
  }
  return store.summary(runId);
}
