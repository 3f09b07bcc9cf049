import { StatecraftError, UserError } from '../errors.ts';
import { parseCommand, type Command } from './args.ts';
import { exitCodes } from './exitCodes.ts';
import { inspectCommand } from './inspectCommand.ts';
import { deleteCommand, historyCommand, runsCommand, showCommand } from './logCommands.ts';
import { approveCommand, rejectCommand, resumeCommand } from './resumeCommands.ts';
import { runCommand } from './runCommand.ts';
import { exportCommand, forkCommand, importCommand, repairCommand, replayCommand } from './timeTravelCommands.ts';
import { visualizeCommand } from './visualizeCommand.ts';

const commands: Command[] = [
  runCommand,
  runsCommand,
  historyCommand,
  showCommand,
  resumeCommand,
  approveCommand,
  rejectCommand,
  forkCommand,
  replayCommand,
  repairCommand,
  exportCommand,
  importCommand,
  deleteCommand,
  inspectCommand,
  visualizeCommand,
];

const overview = () =>
  `statecraft: run agents whose loop is an explicit statechart, recorded step by step.

Usage: statecraft <command> [options]   (statecraft <command> --help for details)

Commands:
${commands.map((command) => `  ${command.name.padEnd(12)}${command.summary}`).join('\n')}

A <run> is a run id as \`statecraft runs\` lists it, or its start when that names one run (4 characters or more).

Environment: OPENAI_API_KEY, OPENAI_BASE_URL, STATECRAFT_MODEL, STATECRAFT_STORE, STATECRAFT_DEBUG (print
errors with their stack traces).`;

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${overview()}\n`);
    return name ? 0 : exitCodes.usage;
  }
  const command = commands.find((candidate) => candidate.name === name);
  if (!command) throw new UserError(`Unknown command "${name}".\n\n${overview()}`);
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`Usage: ${command.usage}\n\n${command.help}\n`);
    return 0;
  }
  const { values, positionals } = parseCommand(command, rest);
  return command.run(values as Record<string, string | boolean | undefined>, positionals);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    // A file that cannot be read or written (ENOENT, EACCES, EISDIR...) is the user's to fix: its
    // message names the file, and a stack trace would only bury it.
    const fileError = typeof (error as NodeJS.ErrnoException)?.syscall === 'string' && typeof (error as NodeJS.ErrnoException).path === 'string';
    const known = error instanceof StatecraftError || fileError;
    // STATECRAFT_DEBUG prints every error's stack, the cause's included (a module that failed to load).
    const debug = Boolean(process.env.STATECRAFT_DEBUG);
    const text = known && !debug ? `${(error as Error).name}: ${(error as Error).message}` : ((error as Error)?.stack ?? String(error));
    const cause = debug && (error as Error)?.cause ? `\nCaused by: ${((error as Error).cause as Error)?.stack ?? String((error as Error).cause)}` : '';
    process.stderr.write(`${text}${cause}\n`);
    process.exitCode = error instanceof UserError || fileError ? exitCodes.usage : 1;
  },
);
