import { StatecraftError } from '../errors.ts';
import { parseHeader, parseRecord, parseSummary, sealRecord } from './record.ts';
import type { RunHeader, RunRecord, RunSummary } from './record.ts';
import type { RunStore } from './runStore.ts';
import { indexRecords } from './stateIndex.ts';
import { CorruptRecordError } from './storageErrors.ts';

const PAGE = 500;

function missingRecord(runId: string, seq: number, lastSeq: number): CorruptRecordError {
  const fork = seq > 0 ? `, or fork it from the record before the gap (\`statecraft fork ${runId} --at ${seq - 1}\`) and export the fork` : '';
  return new CorruptRecordError(
    `Export of run "${runId}" stopped: record ${seq} is missing (the run's records should go from 0 to ${lastSeq}), so the file would not import. ` +
      `Restore the run from a backup${fork}.`,
    { runId, seq },
  );
}

/**
 * Yields a run as JSON Lines: the header, each record in seq order, then a `{"summary": …}` line.
 * The summary is read first and the records up to its last seq follow, so a run being appended to exports as it was then.
 * @example
 * for await (const line of exportRun(store, runId)) process.stdout.write(line);
 */
export async function* exportRun(store: RunStore, runId: string): AsyncIterable<string> {
  const header = await store.header(runId);
  const summary = await store.summary(runId);
  yield `${JSON.stringify(header)}\n`;
  let next = 0;
  for (let from = 0; from <= summary.lastSeq; from += PAGE) {
    for (const record of await store.read(runId, { from, to: Math.min(summary.lastSeq, from + PAGE - 1) })) {
      if (record.seq !== next) throw missingRecord(runId, next, summary.lastSeq);
      yield `${JSON.stringify(record)}\n`;
      next++;
    }
  }
  if (next !== summary.lastSeq + 1) throw missingRecord(runId, next, summary.lastSeq);
  yield `${JSON.stringify({ summary })}\n`;
}

/** Collects `exportRun` into one string. */
export async function exportRunText(store: RunStore, runId: string): Promise<string> {
  let text = '';
  for await (const line of exportRun(store, runId)) text += line;
  return text;
}

function atLine<T>(line: number, read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (error instanceof StatecraftError) {
      error.message = `Import refused at line ${line}: ${error.message}`;
      throw error;
    }
    throw new CorruptRecordError(
      `Import refused at line ${line}: the line is not valid JSON (${(error as Error).message}); if it is the last line, the file was cut short: remove that line and import again.`,
    );
  }
}

function derivedSummary(header: RunHeader, records: RunRecord[]): RunSummary {
  const usage = records.map((record) => record.meta?.usage);
  return {
    runId: header.runId,
    agentId: header.agent.id,
    status: 'halted',
    reason: 'imported without a summary line',
    steps: records.length,
    inputTokens: usage.reduce((sum, u) => sum + (u?.inputTokens ?? 0), 0),
    outputTokens: usage.reduce((sum, u) => sum + (u?.outputTokens ?? 0), 0),
    costUsd: 0,
    lastSeq: records.length - 1,
    createdAt: header.createdAt,
    updatedAt: records.at(-1)?.time ?? header.createdAt,
    ...(header.parent ? { parent: header.parent } : {}),
  };
}

/**
 * Validates every line of an exported run (format, checksums, seq order) and stores it, optionally under a new id.
 * @example
 * const { runId } = await importRun(store, text, { newRunId: 'copy-1' });
 */
export async function importRun(store: RunStore, text: string, options: { newRunId?: string } = {}): Promise<RunSummary> {
  const lines = text.split('\n').map((line) => line.replace(/\r$/, ''));
  while (lines.length > 0 && lines.at(-1) === '') lines.pop();
  if (lines.length === 0) throw new CorruptRecordError('Import refused: the text is empty; expected a header line, then records.');
  let header = atLine(1, () => parseHeader(JSON.parse(lines[0] as string)));
  const records: RunRecord[] = [];
  let summary: RunSummary | undefined;
  lines.slice(1).forEach((line, i) => {
    const lineNo = i + 2;
    atLine(lineNo, () => {
      const json: unknown = JSON.parse(line);
      if (typeof json === 'object' && json !== null && 'summary' in json && !('v' in json)) {
        if (lineNo !== lines.length) throw new CorruptRecordError(`a summary line must be the last line, found one before ${lines.length - lineNo} more lines.`);
        summary = parseSummary(json.summary, { runId: header.runId });
        return;
      }
      records.push(parseRecord(json, { runId: header.runId, seq: records.length }));
    });
  });
  if (records.length === 0) throw new CorruptRecordError(`Import refused: run "${header.runId}" has no records; a run starts with a keyframe record 0.`);
  let final = summary ?? derivedSummary(header, records);
  if (final.lastSeq !== records.length - 1) {
    throw new CorruptRecordError(`Import refused: the summary line says the last seq is ${final.lastSeq}, but the file holds records 0 to ${records.length - 1}; the file was cut or edited.`);
  }
  const runId = options.newRunId ?? header.runId;
  if (runId !== header.runId) {
    header = { ...header, runId };
    records.splice(0, records.length, ...records.map(({ checksum: _old, ...record }) => sealRecord({ ...record, runId })));
    final = { ...final, runId };
  }
  await store.createRun(header, { ...final, lastSeq: -1 });
  // The export leaves the state index out (it is derived): the importing store builds its own.
  await store.append(runId, records, { expectedSeq: 0, summary: final, points: indexRecords(records) });
  return store.summary(runId);
}
