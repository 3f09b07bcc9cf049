import { readFileSync, writeFileSync } from 'node:fs';
import { UserError } from '../errors.ts';
import { exportRunText, importRun } from '../log/exchange/jsonl.ts';
import { RunExistsError } from '../log/format/storageErrors.ts';
import type { Operation } from '../log/format/record.ts';
import { forkRun } from '../runtime/forkRun.ts';
import { replayRun } from '../runtime/replayRun.ts';
import { nonNegativeIntOption, type Command } from './args.ts';
import { agentForRun, agentOptionHelp, retryHere } from './agentForRun.ts';
import { signingKey } from '../log/exchange/exportTrailer.ts';
import { keyOption, readNamedFile } from './verifyCommand.ts';
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
  usage: 'statecraft export <run> [--out FILE] [--sign-key KEY] [--store URL]',
  help: `Writes the run's header, every record and its summary, one JSON object per line, then a trailer
with the record count and the SHA-256 of every line before it, so that import refuses a file cut short
or changed. Each record's checksum is checked first: an altered run is not exported.

Options:
  --out FILE         write to FILE instead of standard output
  --sign-key KEY     sign the trailer with this Ed25519 private key (PEM; make one with
                     openssl genpkey -algorithm ed25519 -out KEY), so that whoever holds its public
                     key can check the file with statecraft verify --file FILE --verify-key PUB
${storeHelp}`,
  options: { out: { type: 'string' }, 'sign-key': { type: 'string' }, ...storeOptions },
  async run(values, [runId]) {
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
  },
};

export const importCommand: Command = {
  name: 'import',
  summary: 'load a run exported as JSON Lines, checking every record',
  usage: 'statecraft import <file> [--as RUN] [--verify-key KEY] [--partial] [--store URL]',
  help: `Validates every line (format version, checksums and their chain, order, that each patch applies)
and the trailer (the record count and the checksum of every line), then stores the run. A file that
ends without its trailer was cut short and is refused, unless --partial.

No code is loaded for an imported run from the module its log names: resume, approve, reject, replay
and the inspector need --agent MODULE, or statecraft trust <run> --agent MODULE once.

Options:
  --as RUN           store it under a new run id
  --verify-key KEY   refuse the file unless it is signed with this Ed25519 key (its public key, PEM)
  --partial          import the records of a file cut short (no trailer), as a run ending at the last of them
${storeHelp}`,
  options: { as: { type: 'string' }, 'verify-key': { type: 'string' }, partial: { type: 'boolean' }, ...storeOptions },
  async run(values, [file]) {
    if (!file) throw new UserError('Missing the file. Usage: statecraft import <file> [--as RUN]');
    // Read before the store is opened, so a wrong path creates no store.
    const text = readExport(file);
    const verifyKey = keyOption(values);
    const options = { ...(values.as ? { newRunId: values.as as string } : {}), ...(verifyKey ? { verifyKey } : {}), ...(values.partial ? { partial: true } : {}) };
    return withStore(values, async (store) => {
      const summary = await importRun(store, text, options).catch((error: unknown) => {
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
const readExport = (file: string): string => readNamedFile(file, 'a run written by `statecraft export <run> --out FILE`', 'import');
