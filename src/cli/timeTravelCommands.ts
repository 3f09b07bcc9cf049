import { readFileSync, writeFileSync } from 'node:fs';
import { UserError } from '../errors.ts';
import { exportRunText, importRun } from '../log/jsonl.ts';
import { RunExistsError } from '../log/storageErrors.ts';
import type { Operation } from '../log/record.ts';
import { forkRun } from '../runtime/forkRun.ts';
import { replayRun } from '../runtime/replayRun.ts';
import { nonNegativeIntOption, type Command } from './args.ts';
import { agentForRun, agentOptionHelp, retryHere } from './agentForRun.ts';
import { storeHelp, storeOptions, withRun, withStore } from './storeOption.ts';

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

export const forkCommand: Command = {
  name: 'fork',
  summary: 'start a new run from any step of another, optionally with its context edited',
  usage: 'statecraft fork <run> --at SEQ [--edit JSON | --edit-file FILE] [--store URL]',
  help: `Creates a new run whose history begins at record SEQ of <run> (the parent is never changed) and
prints its id. Continue it with: statecraft resume <new run>.

Options:
  --at SEQ           the record to fork from (see statecraft history)
  --edit JSON        an RFC 6902 JSON patch applied to the context, paths relative to it, e.g.
                     '[{"op":"replace","path":"/messages/4/content","value":"the API is down"}]'
  --edit-file FILE   the same patch read from a file
${storeHelp}`,
  options: { at: { type: 'string' }, edit: { type: 'string' }, 'edit-file': { type: 'string' }, ...storeOptions },
  async run(values, [runId]) {
    if (!runId || values.at === undefined) throw new UserError('Usage: statecraft fork <run> --at SEQ [--edit JSON]');
    const seq = nonNegativeIntOption(values, 'at', 'a record number, 0 or more (see statecraft history)')!;
    const edit = values.edit
      ? parseEdit(values.edit as string, '--edit')
      : values['edit-file']
        ? parseEdit(readFileSync(values['edit-file'] as string, 'utf8'), values['edit-file'] as string)
        : undefined;
    return withRun(values, runId, async (store, runId) => {
      const forkId = await forkRun(store, runId, seq, { ...(edit ? { edit } : {}) });
      process.stdout.write(`${forkId}\n`);
      process.stderr.write(`Forked ${runId} at record ${seq}. Continue with: statecraft resume ${forkId}\n`);
      return 0;
    });
  },
};

export const replayCommand: Command = {
  name: 'replay',
  summary: 'check that the current code reproduces a recorded run, step by step',
  usage: 'statecraft replay <run> [--agent MODULE] [--json] [--store URL]',
  help: `Drives the agent's machine with the run's recorded events, calling no model and no tool, and
compares every patch with the recorded one. Exits 0 when all match; otherwise 1, naming the first
record that differs with the expected and actual patch. Replay starts from the run's recorded first
state, so a change to the agent's instructions or limits is not replayed: it is printed as a warning,
as is a change of the agent's name or machine.

Options:
${agentOptionHelp}
  --json             print the report as JSON
${storeHelp}`,
  options: { agent: { type: 'string' }, json: { type: 'boolean' }, ...storeOptions },
  async run(values, [runId]) {
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
  },
};

export const exportCommand: Command = {
  name: 'export',
  summary: 'write a run as JSON Lines (to move it between stores or attach it to a bug report)',
  usage: 'statecraft export <run> [--out FILE] [--store URL]',
  help: `Writes the run's header, every record and its summary, one JSON object per line.

Options:
  --out FILE         write to FILE instead of standard output
${storeHelp}`,
  options: { out: { type: 'string' }, ...storeOptions },
  async run(values, [runId]) {
    if (!runId) throw new UserError('Missing the run id. Usage: statecraft export <run> [--out FILE]');
    return withRun(values, runId, async (store, runId) => {
      const text = await exportRunText(store, runId);
      if (values.out) writeFileSync(values.out as string, text);
      else process.stdout.write(text);
      return 0;
    });
  },
};

export const importCommand: Command = {
  name: 'import',
  summary: 'load a run exported as JSON Lines, checking every record',
  usage: 'statecraft import <file> [--as RUN] [--store URL]',
  help: `Validates every line (format version, checksums, order) and stores the run.

No code is loaded for an imported run from the module its log names: resume, approve, reject, replay
and the inspector need --agent MODULE, or statecraft trust <run> --agent MODULE once.

Options:
  --as RUN           store it under a new run id
${storeHelp}`,
  options: { as: { type: 'string' }, ...storeOptions },
  async run(values, [file]) {
    if (!file) throw new UserError('Missing the file. Usage: statecraft import <file> [--as RUN]');
    // Read before the store is opened, so a wrong path creates no store.
    const text = readExport(file);
    return withStore(values, async (store) => {
      const summary = await importRun(store, text, values.as ? { newRunId: values.as as string } : {}).catch((error: unknown) => {
        if (!(error instanceof RunExistsError)) throw error;
        throw new UserError(
          `Run "${error.runId}" is already in the store, so ${file} was not imported: import it under a new id with --as RUN, or delete the stored run first (statecraft delete ${error.runId} --yes).`,
          { cause: error },
        );
      });
      process.stdout.write(`Imported ${summary.runId}: ${summary.lastSeq + 1} records, status ${summary.status}.\n`);
      return 0;
    }, { create: true });
  },
};

/** The text of a file to import; one that cannot be read is the user's to fix, named with why. */
function readExport(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    const { code } = error as NodeJS.ErrnoException;
    const why = code === 'ENOENT' ? 'there is no such file' : code === 'EISDIR' ? 'it is a folder' : (error as Error).message;
    throw new UserError(`Cannot import ${file}: ${why}. Give the path of a run written by \`statecraft export <run> --out FILE\`.`, { cause: error });
  }
}
