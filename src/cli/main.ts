import { StatecraftError, StorageError, UserError } from '../errors.ts';
import { RecordNotFoundError, RunNotFoundError } from '../log/format/storageErrors.ts';
import { closestName } from '../nearestName.ts';
import { parseCommand, usageOf, type Command } from './args.ts';
import { approveCommand } from './commands/approve.ts';
import { cancelCommand } from './commands/cancel.ts';
import { deleteCommand } from './commands/delete.ts';
import { exportCommand } from './commands/export.ts';
import { forkCommand } from './commands/fork.ts';
import { historyCommand } from './commands/history.ts';
import { importCommand } from './commands/import.ts';
import { inspectCommand } from './commands/inspect.ts';
import { keysCommand } from './commands/keys.ts';
import { rejectCommand } from './commands/reject.ts';
import { repairCommand } from './commands/repair.ts';
import { replayCommand } from './commands/replay.ts';
import { resumeCommand } from './commands/resume.ts';
import { runCommand } from './commands/run.ts';
import { runsCommand } from './commands/runs.ts';
import { threadsCommand } from './commands/threads.ts';
import { secretsCommand } from './commands/secrets.ts';
import { serveCommand } from './commands/serve.ts';
import { showCommand } from './commands/show.ts';
import { trustCommand } from './commands/trust.ts';
import { verifyCommand } from './commands/verify.ts';
import { visualizeCommand } from './commands/visualize.ts';
import { queueCommand, submitCommand, workerCommand } from './commands/worker.ts';
import { exitCodes } from './exitCodes.ts';
import { exitCleanly, handleSignals } from './shutdown.ts';
import { packageVersion } from './packageVersion.ts';
import { withStoreOption } from './suggestedCommands.ts';

// Each command is metadata here; its code is imported only when it runs (`load`), so that --help,
// --version and a listing load no more than they use.
const commands: Command[] = [
  runCommand,
  runsCommand,
  threadsCommand,
  historyCommand,
  showCommand,
  resumeCommand,
  approveCommand,
  rejectCommand,
  cancelCommand,
  forkCommand,
  replayCommand,
  repairCommand,
  verifyCommand,
  exportCommand,
  importCommand,
  trustCommand,
  deleteCommand,
  inspectCommand,
  serveCommand,
  keysCommand,
  secretsCommand,
  submitCommand,
  workerCommand,
  queueCommand,
  visualizeCommand,
];

const overview = () =>
  `statecraft: run agents whose loop is an explicit statechart, recorded step by step.

Usage: statecraft <command> [options]   (statecraft <command> --help for details)

Commands:
${commands.map((command) => `  ${command.name.padEnd(12)}${command.summary}`).join('\n')}

A <run> is a run id as \`statecraft runs\` lists it, or its start when that names one run (4 characters or more).
In a project that depends on Statecraft, run it as npx statecraft <command>: the commands it suggests are
printed so. statecraft --version (or -v) prints its version.

--json: commands that follow a run (run, resume, approve, reject) print JSON Lines, one event per line;
the others print one JSON document (runs and history an array).

Environment: OPENAI_API_KEY, OPENAI_BASE_URL, STATECRAFT_MODEL, STATECRAFT_STORE, STATECRAFT_DEBUG (print
errors with their stack traces), NO_COLOR (no colour), FORCE_COLOR (colour even on a pipe; NO_COLOR wins),
OTEL_EXPORTER_OTLP_ENDPOINT (send OpenTelemetry traces and metrics of run, resume, approve, reject, fork,
inspect and worker there over OTLP/HTTP; needs the OpenTelemetry SDK packages the README names).`;

const commandHelp = (command: Command) => `Usage: ${usageOf(command)}\n\n${command.help}\n`;

/** The --store of the command being run: the commands an error suggests name it too. */
let storeGiven: string | undefined;

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--version' || name === '-v') {
    process.stdout.write(`${packageVersion()}\n`);
    return 0;
  }
  if (name === 'help' && rest[0] !== undefined) return main([rest[0], '--help']);
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${overview()}\n`);
    return name ? 0 : exitCodes.usage;
  }
  const command = commands.find((candidate) => candidate.name === name);
  if (!command) {
    const near = closestName(name, commands.map((candidate) => candidate.name));
    throw new UserError(`Unknown command "${name}".${near ? ` Did you mean "${near}"?` : ''}\nSee the commands with: npx statecraft --help`);
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(commandHelp(command));
    return 0;
  }
  const { values, positionals } = parseCommand(command, rest);
  if (typeof values.store === 'string') storeGiven = values.store;
  const run = await command.load();
  // Spans and metrics of the runs a command drives go over OTLP when an endpoint is named: the SDK
  // is loaded then, and only then, and what it holds is sent before the command returns.
  const stopExport = process.env.OTEL_EXPORTER_OTLP_ENDPOINT && RUNS_AGENTS.has(command.name) ? await (await import('./otlpExport.ts')).startOtlpExport() : undefined;
  try {
    return await run(values as Record<string, string | boolean | undefined>, positionals);
  } finally {
    await stopExport?.();
  }
}

/** The commands that run an agent's steps, whose spans and metrics are exported. */
const RUNS_AGENTS = new Set(['run', 'resume', 'approve', 'reject', 'fork', 'inspect', 'worker']);

/** Codes of a network connection that could not be made, and PostgreSQL's for a login or database refused. */
const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', '28000', '28P01', '3D000']);

/** A store the configuration names but that cannot be reached: the store's error wraps the connection's. */
function unreachableStore(error: unknown): boolean {
  if (!(error instanceof StorageError)) return false;
  const cause = error.cause as { code?: unknown; errors?: { code?: unknown }[] } | undefined;
  return [cause, ...(cause?.errors ?? [])].some((candidate) => UNREACHABLE.has(String(candidate?.code)));
}

/** The user's to fix (exit 2): a usage or configuration error, a run or record that is not there, a file or store that cannot be reached. */
function usageError(error: unknown): boolean {
  // A file that cannot be read or written (ENOENT, EACCES, EISDIR...): its message names the file.
  const fileError = typeof (error as NodeJS.ErrnoException)?.syscall === 'string' && typeof (error as NodeJS.ErrnoException).path === 'string';
  return error instanceof UserError || error instanceof RunNotFoundError || error instanceof RecordNotFoundError || unreachableStore(error) || fileError;
}

// A reader that stops early (`statecraft runs --json | head -1`) closes the pipe: stop quietly, as
// `git log | head` does, rather than die on an unhandled EPIPE.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
  process.exit(0);
});

// The CLI exits once its command is done, whatever an agent module left open (a connection, a timer):
// the modules' dispose hooks are called and what the runtime opened is closed first.
handleSignals();
main(process.argv.slice(2)).then(
  (code) => exitCleanly(code),
  (error: unknown) => {
    const usage = usageError(error);
    // Errors the user can act on print their message alone (a stack trace would only bury it), unless
    // STATECRAFT_DEBUG asks for the stacks, the cause's included.
    const known = error instanceof StatecraftError || usage;
    const debug = Boolean(process.env.STATECRAFT_DEBUG);
    const text = known && !debug ? `${(error as Error).name}: ${(error as Error).message}` : ((error as Error)?.stack ?? String(error));
    const cause = debug && (error as Error)?.cause ? `\nCaused by: ${((error as Error).cause as Error)?.stack ?? String((error as Error).cause)}` : '';
    process.stderr.write(`${withStoreOption(text, storeGiven)}${cause}\n`);
    return exitCleanly(usage ? exitCodes.usage : 1);
  },
);
