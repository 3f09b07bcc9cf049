import { readFileSync } from 'node:fs';
import { UserError } from '../errors.ts';
import { verifyingKey } from '../log/exchange/exportTrailer.ts';
import { verifyExport, verifyRun, type Problem, type Verification } from '../log/reads/verifyRun.ts';
import type { Command } from './args.ts';
import { storeHelp, storeOptions, withRun } from './storeOption.ts';

/** The text of a file named on the command line; one that cannot be read is the user's to fix (`Cannot <verb> <file>: why. Give the path of <what>.`). */
export function readNamedFile(file: string, what: string, verb = 'read'): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    const { code } = error as NodeJS.ErrnoException;
    const why = code === 'ENOENT' ? 'there is no such file' : code === 'EISDIR' ? 'it is a folder' : (error as Error).message;
    throw new UserError(`Cannot ${verb} ${file}: ${why}. Give the path of ${what}.`, { cause: error });
  }
}

/** The public key named by --verify-key, if any. */
export const keyOption = (values: Record<string, unknown>) =>
  typeof values['verify-key'] === 'string'
    ? verifyingKey(readNamedFile(values['verify-key'], 'an Ed25519 public key in PEM'), values['verify-key'])
    : undefined;

const MAX_SHOWN = 5;

/** A problem as one sentence (its detail names the record by seq, or the header, summary or file). */
const problemLine = (problem: Problem): string => problem.detail.replace(/\.$/, '');

/** What to do about what verify found, by its first problem. */
function advice(runId: string, report: Verification): string {
  const first = report.problems[0]!;
  if (first.problem === 'file') return 'Do not trust this file: export the run again from its store (signed, with --sign-key) and check the new file.';
  if (first.problem === 'header') return 'Restore the run from a backup or a signed export.';
  const kept = first.seq !== undefined && first.seq > 0 ? `Records 0 to ${first.seq - 1} are as they were written. ` : '';
  const altered = report.problems.some((problem) => problem.problem === 'altered');
  return (
    kept +
    (altered
      ? 'Restore the run from a backup or a signed export; `statecraft repair` does not undo a change, it only cuts a damaged tail.'
      : `See what can be recovered with \`statecraft repair ${runId}\`, or restore the run from a backup.`)
  );
}

function report(subject: string, result: Verification): string[] {
  if (result.problems.length > 0) {
    return [
      `${subject}: ${problemLine(result.problems[0]!)}.`,
      ...result.problems.slice(1, MAX_SHOWN).map((problem) => `  also: ${problemLine(problem)}`),
      ...(result.problems.length > MAX_SHOWN ? [`  and ${result.problems.length - MAX_SHOWN} more`] : []),
      advice(result.runId, result),
    ];
  }
  const lines = [
    result.chained
      ? `${subject}: intact. Its ${result.records} records hold the checksums they were written with, each chained to the one before it and record 0 to the header.`
      : `${subject}: no damage found in its ${result.records} records. It was recorded before records were chained (format 1), so a record changed through the store along with its checksum cannot be told from one as written.`,
  ];
  const { trailer } = result;
  if (trailer) {
    if (!trailer.present) lines.push('The file has no trailer: it was written before exports carried one, so a file cut short at a line boundary cannot be told.');
    else if (trailer.signatureChecked) lines.push(`Its trailer holds, and is signed by key ${trailer.signedBy}, the key given: no line was changed, added or removed since it was signed.`);
    else if (trailer.signedBy) lines.push(`Its trailer holds. It is signed by key ${trailer.signedBy}, not checked: give that key's public half with --verify-key to check who wrote it.`);
    else lines.push('Its trailer holds (record count and checksum). It is not signed: anyone who can run Statecraft could have written it.');
  } else if (result.chained) {
    lines.push(
      'Without a key, this shows the log was not damaged, nor changed without working out every later checksum again; someone who can write to the store and run Statecraft could still have done that. Keep signed exports (statecraft export <run> --sign-key KEY) for proof.',
    );
  }
  return lines;
}

export const verifyCommand: Command = {
  name: 'verify',
  summary: 'check that a run (or an exported file) is whole and unaltered',
  usage: 'statecraft verify <run> [--json] [--store URL] | statecraft verify --file FILE [--verify-key KEY] [--json]',
  help: `Checks a stored run: its header, that every record can be read, none is missing and each patch
applies, and that each record holds the checksum it was written with, over its content and the
checksum of the record before it (record 0's, over the header's). The first record that fails is named
by seq. With --file, checks an exported file instead, as import would, and its trailer (the record
count and the checksum of every line); with --verify-key, also that the file is signed with that key.

What it proves: without a key, that the log was neither damaged nor changed without working out
every later checksum again. Anyone who can write to the store and run Statecraft's code could do
that, and a run cut back at its end along with its summary reads as a shorter run. A file signed
with --sign-key and checked here with --verify-key is exactly what the key's holder exported.

Exit status: 0 when intact, 1 when damaged or altered, 2 for a usage error.

Options:
  --file FILE        check an export (statecraft export <run> --out FILE) instead of a stored run
  --verify-key KEY   with --file: the Ed25519 public key (PEM) the export must be signed with
  --json             print the findings as JSON
${storeHelp}`,
  options: { file: { type: 'string' }, 'verify-key': { type: 'string' }, json: { type: 'boolean' }, ...storeOptions },
  async run(values, [runId, ...extra]) {
    const file = values.file as string | undefined;
    if (extra.length > 0 || (file !== undefined) === (runId !== undefined)) {
      throw new UserError('Give one run id, or --file FILE. Usage: statecraft verify <run> | statecraft verify --file FILE [--verify-key KEY]');
    }
    if (values['verify-key'] !== undefined && file === undefined) {
      throw new UserError('--verify-key checks the signature of an exported file: use it with --file FILE (a stored run carries no signature).');
    }
    const print = (subject: string, result: Verification): number => {
      process.stdout.write(values.json ? `${JSON.stringify(result, null, 2)}\n` : `${report(subject, result).join('\n')}\n`);
      return result.problems.length === 0 ? 0 : 1;
    };
    if (file !== undefined) {
      const verifyKey = keyOption(values);
      const result = verifyExport(readNamedFile(file, 'a run written by `statecraft export <run> --out FILE`', 'verify'), verifyKey ? { verifyKey } : {});
      return print(`${file} (run ${result.runId})`, result);
    }
    return withRun(values, runId!, async (store, runId) => print(`Run ${runId}`, await verifyRun(store, runId)));
  },
};
