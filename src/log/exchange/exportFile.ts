import type { KeyObject } from 'node:crypto';
import { StatecraftError } from '../../errors.ts';
import { alteredDetail, ChainWalk, isChained } from '../format/chain.ts';
import { isTrailerLine, keyFingerprint, linesDigest, signatureHolds, trailerOf, type Trailer } from './exportTrailer.ts';
import { parseHeader, parseRecord, parseSummary } from '../format/record.ts';
import type { RunHeader, RunRecord, RunSummary } from '../format/record.ts';
import { CorruptRecordError } from '../format/storageErrors.ts';
import { parseMachineEntry, type MachineEntry } from '../format/machineEntry.ts';

/** A parsed export: record seq N is on line N + 2, after the header. */
export interface ExportFile {
  header: RunHeader;
  records: RunRecord[];
  summary?: { value: RunSummary; line: number };
  /** The graphs of the run's machines, from `{"machine": …}` lines after the records (none in exports written before they were). */
  machines: MachineEntry[];
  /** The trailer, checked against the lines before it; absent from exports written before trailers were. */
  trailer?: Trailer;
}

/** How an export is read. */
export interface ReadExportOptions {
  /** Take a file with no trailer (cut short at a line boundary) for the records it holds. */
  partial?: boolean;
  /** Require the trailer to be signed with this key's private half (see `signingKey`). */
  verifyKey?: KeyObject;
}

export const lineOf = (seq: number): number => seq + 2;

/** What to do with a file refused at a record's line. */
export const fileHint = (line: number): string =>
  `the file was altered or damaged: export the run again from its store, or remove line ${line} and every line after it to import the records before it (with --partial)`;

/** The header's run and the record a line holds, for messages about the file. */
function lineLabel(line: number, runId: string | undefined): string {
  if (runId === undefined) return '';
  return line === 1 ? ` (header of run "${runId}")` : ` (run "${runId}" record ${line - 2})`;
}

function atLine<T>(line: number, runId: string | undefined, read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (error instanceof StatecraftError) {
      error.message = `Import refused at line ${line}: ${error.message}`;
      throw error;
    }
    const before = line > 2 ? ` to import records 0 to ${line - 3} (with --partial)` : '';
    throw new CorruptRecordError(
      `Import refused at line ${line}${lineLabel(line, runId)}: the line is not valid JSON (${(error as Error).message}); ` +
        `if it is the last line, the file was cut short: remove that line${before}, or export the run again.`,
      { ...(runId === undefined ? {} : { runId }), ...(line > 1 ? { seq: line - 2 } : {}) },
    );
  }
}

function summaryLine(json: { summary: unknown }, line: number, count: number, runId: string): RunSummary {
  if (line !== count) throw new CorruptRecordError(`a summary line must be the last line before the trailer, found one before ${count - line} more lines.`, { runId });
  try {
    return parseSummary(json.summary, { runId });
  } catch (error) {
    (error as Error).message += ` Export the run again, or remove the summary line (and the trailer) to import the run with a summary worked out from its records (with --partial).`;
    throw error;
  }
}

/** The trailer line at the end of `lines`, removed from them; undefined when the last line is not one. */
function takeTrailer(lines: string[], runId: string): Trailer | undefined {
  const text = lines.at(-1)!;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isTrailerLine(json)) return undefined;
  const trailer = trailerOf(json);
  if (typeof trailer === 'string') {
    throw new CorruptRecordError(`Import refused at line ${lines.length} (trailer of run "${runId}"): the trailer cannot be read (${trailer}): the file was altered; export the run again.`, { runId });
  }
  lines.pop();
  return trailer;
}

/** Refuses a file whose trailer does not match its lines, or that lacks the trailer or signature it must have. */
function checkTrailer(file: ExportFile, lines: readonly string[], options: ReadExportOptions): void {
  const { header, trailer } = file;
  const runId = header.runId;
  const at = `Import refused at line ${lines.length + 1} (trailer of run "${runId}")`;
  if (!trailer) {
    if (options.verifyKey) {
      throw new CorruptRecordError(`Import refused: the export of run "${runId}" ends at line ${lines.length} without a trailer, so it carries no signature to check with the key given: it was cut short, or written before exports were signed. Export the run again with --sign-key.`, { runId });
    }
    if (options.partial) return;
    if (!isChained(header)) {
      // Exports of formats before trailers end with their summary line: without it, the file was cut.
      if (file.summary) return;
      throw new CorruptRecordError(
        `Import refused: the export of run "${runId}" ends at line ${lines.length} without the summary line every export ends with, ` +
          `so it was cut short, perhaps at a line boundary. Export the run again, or import the ${file.records.length} records it holds with --partial.`,
        { runId },
      );
    }
    throw new CorruptRecordError(
      `Import refused: the export of run "${runId}" ends at line ${lines.length} without the trailer every export of its format ends with (its record count and checksum), ` +
        `so it was cut short, perhaps at a line boundary. Export the run again, or import the ${file.records.length} records it holds with --partial.`,
      { runId },
    );
  }
  if (trailer.records !== file.records.length) {
    throw new CorruptRecordError(
      `${at}: the trailer says the file holds ${trailer.records} records, but it holds ${file.records.length}: records were removed or added after it was exported. Export the run again.`,
      { runId },
    );
  }
  if (linesDigest(lines) !== trailer.sha256) {
    throw new CorruptRecordError(
      `${at}: the lines before the trailer do not match its checksum: the file was changed after it was exported (a line edited, added, removed or moved). Export the run again.`,
      { runId },
    );
  }
  if (!options.verifyKey) return;
  const expected = keyFingerprint(options.verifyKey);
  if (!trailer.signature) {
    throw new CorruptRecordError(`${at}: the export is not signed, but a key to check it with was given (key ${expected}): export the run again with --sign-key.`, { runId });
  }
  if (!signatureHolds(trailer, options.verifyKey)) {
    const why =
      trailer.signature.key === expected
        ? 'the trailer was changed after it was signed'
        : `it was signed with key ${trailer.signature.key}, not the key given (${expected})`;
    throw new CorruptRecordError(`${at}: the signature does not hold for the key given: ${why}. Trust the file only once it checks out with the right key.`, { runId });
  }
}

/**
 * Reads an exported run: the header, each record in seq order (format, checksums, the chain of a
 * chained run, safe patch paths), the summary line and the trailer. A UTF-8 byte-order mark before
 * the first line and CR before line ends are ignored. Throws CorruptRecordError (or
 * UnsupportedFormatError) naming the line that is refused.
 */
export function readExport(text: string, options: ReadExportOptions = {}): ExportFile {
  const lines = text.replace(/^\uFEFF/, '').split('\n').map((line) => line.replace(/\r$/, ''));
  while (lines.length > 0 && lines.at(-1) === '') lines.pop();
  if (lines.length === 0) throw new CorruptRecordError('Import refused: the text is empty; expected a header line, then records.');
  const file: ExportFile = { header: atLine(1, undefined, () => parseHeader(JSON.parse(lines[0] as string))), records: [], machines: [] };
  const runId = file.header.runId;
  const trailer = lines.length > 1 ? takeTrailer(lines, runId) : undefined;
  if (trailer) file.trailer = trailer;
  const chain = new ChainWalk(file.header);
  lines.slice(1).forEach((text, i) => {
    const line = i + 2;
    atLine(line, runId, () => {
      const json: unknown = JSON.parse(text);
      if (typeof json === 'object' && json !== null && 'summary' in json && !('v' in json)) {
        file.summary = { value: summaryLine(json, line, lines.length, runId), line };
        return;
      }
      if (typeof json === 'object' && json !== null && 'machine' in json && !('v' in json)) {
        file.machines.push(parseMachineEntry(json.machine, `line ${line} of the export of run "${runId}"`));
        return;
      }
      if (file.machines.length > 0) {
        throw new CorruptRecordError(`a record follows a machine graph line, but graphs come after the last record: the file was edited; ${fileHint(line)}.`, { runId });
      }
      const record = parseRecord(json, { runId, seq: file.records.length }, { hint: fileHint(line), verifyChecksum: !chain.chained });
      if (chain.chained && !chain.holds(record)) {
        throw new CorruptRecordError(`Run "${runId}" ${alteredDetail(record.seq, true)}; ${fileHint(line)}.`, { runId, seq: record.seq });
      }
      file.records.push(record);
    });
  });
  if (file.records.length === 0) {
    throw new CorruptRecordError(`Import refused: the file holds run "${runId}"'s header but no records; a run starts with a keyframe record 0: export the run again.`, { runId });
  }
  checkTrailer(file, lines, options);
  return file;
}
