import { readFileSync, writeFileSync } from 'node:fs';
import { UserError } from '../errors.ts';
import { exportRunText, importRun } from '../log/exchange/jsonl.ts';
import { RunExistsError } from '../log/format/storageErrors.ts';
import type { Operation } from '../log/format/record.ts';
import { forkRun } from '../runtime/forkRun.ts';
import { replayRun } from '../runtime/replayRun.ts';
import { nonNegativeIntOption, type CommandValues } from './args.ts';
import { agentForRun, retryHere } from './agentForRun.ts';
import { signingKey } from '../log/exchange/exportTrailer.ts';
import { keyOption, readNamedFile } from './verifyCommand.ts';
import { withRun, withStore } from './storeOption.ts';
import { withStoreOption } from './suggestedCommands.ts';
import { forkIntoThread } from './threadCommands.ts';

const parseEdit = (text: string, source: string): Operation[] => {
  try {
    const value = JSON.parse(text) as unknown;
    if (!Array.isArray(value)) throw new Error('expected a JSON array of patch operations');
    return value as Operation[];
  } catch (error) {
    throw new UserError(
      `${source} is not a JSON patch: ${(error as Error).message}. Example: [{"op":"replace","path":"/messages/3/content","value":"42"}]`,
    );
  }
};

export async function fork(values: CommandValues, [runId]: string[]): Promise<number> {
  if (runId && typeof values.thread === 'string' && values.at === undefined) return forkIntoThread(values, runId, values.thread);
  if (!runId || values.at === undefined) throw new UserError('Usage: statecraft fork <run> --at SEQ [--edit JSON], or statecraft fork <run> --thread NEW');
  if (values.thread !== undefined) throw new UserError('--thread forks a thread at the end of a run, and --at forks a run at a record: give one of them.');
  const seq = nonNegativeIntOption(values, 'at', `a record number, 0 or more (see \`npx statecraft history ${runId}\`)`)!;
  const edit = values.edit
    ? parseEdit(values.edit as string, '--edit')
    : values['edit-file']
      ? parseEdit(readFileSync(values['edit-file'] as string, 'utf8'), values['edit-file'] as string)
      : undefined;
  return withRun(values, runId, async (store, runId) => {
    const forkId = await forkRun(store, runId, seq, { ...(edit ? { edit } : {}) });
    process.stdout.write(`${forkId}\n`);
    process.stderr.write(withStoreOption(`Forked ${runId} at record ${seq}. Continue with: npx statecraft resume ${forkId}\n`, values.store as string | undefined));
    return 0;
  });
}

export async function replay(values: CommandValues, [runId]: string[]): Promise<number> {
  if (!runId) throw new UserError('Missing the run id. Usage: statecraft replay <run>');
  return withRun(values, runId, async (store, runId) => {
    const { agent } = await agentForRun(store, runId, { agent: values.agent as string | undefined, retry: retryHere(values) });
    const report = await replayRun(agent, runId, { store });
    if (!values.json) for (const warning of report.warnings) process.stderr.write(`warning: ${warning}\n`);
    if (values.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    else if (report.ok) process.stdout.write(`Replayed ${report.replayed} records of ${runId}: every patch matches.\n`);
    else {
      const d = report.divergence!;
      process.stdout.write(
        `Run ${runId} diverges at record ${d.seq} (${d.eventType}) after ${report.replayed - 1} matching records.\n` +
          `expected: ${JSON.stringify(d.expected)}\nactual:   ${JSON.stringify(d.actual)}\n`,
      );
    }
    return report.ok ? 0 : 1;
  });
}

export async function exportRun(values: CommandValues, [runId]: string[]): Promise<number> {
  if (!runId) throw new UserError('Missing the run id. Usage: statecraft export <run> [--out FILE]');
  const key = values['sign-key'] as string | undefined;
  // Read before the store is opened: a wrong key path writes nothing.
  const signing = key === undefined ? {} : { signingKey: signingKey(readNamedFile(key, 'an Ed25519 private key in PEM'), key) };
  return withRun(values, runId, async (store, runId) => {
    const text = await exportRunText(store, runId, signing);
    if (values.out) writeFileSync(values.out as string, text);
    else process.stdout.write(text);
    return 0;
  });
}

export async function importFile(values: CommandValues, [file]: string[]): Promise<number> {
  if (!file) throw new UserError('Missing the file. Usage: statecraft import <file> [--as RUN]');
  // Read before the store is opened, so a wrong path creates no store.
  const text = readExport(file);
  const verifyKey = keyOption(values);
  const options = { ...(values.as ? { newRunId: values.as as string } : {}), ...(verifyKey ? { verifyKey } : {}), ...(values.partial ? { partial: true } : {}) };
  return withStore(values, async (store) => {
    const summary = await importRun(store, text, options).catch((error: unknown) => {
      if (!(error instanceof RunExistsError)) throw error;
      throw new UserError(
        `Run "${error.runId}" is already in the store, so ${file} was not imported: import it under a new id with --as RUN, or delete the stored run first (npx statecraft delete ${error.runId} --yes).`,
        { cause: error },
      );
    });
    process.stdout.write(`Imported ${summary.runId}: ${summary.lastSeq + 1} records, status ${summary.status}.\n`);
    return 0;
  }, { create: true });
}

/** The text of a file to import; one that cannot be read is the user's to fix, named with why. */
const readExport = (file: string): string => readNamedFile(file, 'a run written by `statecraft export <run> --out FILE`', 'import');
