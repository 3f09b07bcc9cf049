import { readFileSync } from 'node:fs';
import { UserError } from '../errors.ts';
import { verifyingKey } from '../log/exchange/exportTrailer.ts';
import { verifyExport, verifyRun, type Problem, type Verification } from '../log/reads/verifyRun.ts';
import type { CommandValues } from './args.ts';
import { withRun } from './storeOption.ts';

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
      ? 'Restore the run from a backup or a signed export; repair does not undo a change, it only cuts a damaged tail.'
      : `See what can be recovered with \`npx statecraft repair ${runId}\`, or restore the run from a backup.`)
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
      'Without a key, this shows the log was not damaged, nor changed without working out every later checksum again; someone who can write to the store and run Statecraft could still have done that. Keep signed exports (statecraft export with --sign-key) for proof.',
    );
  }
  return lines;
}

export async function verify(values: CommandValues, [runId, ...extra]: string[]): Promise<number> {
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
}
