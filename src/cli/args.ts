import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UserError } from '../errors.ts';
import { closestName } from '../nearestName.ts';

/** A command's options as parsed. */
export type CommandValues = Record<string, string | boolean | undefined>;

/** What a command does, given its parsed options and arguments; resolves to the exit code. */
export type CommandAction = (values: CommandValues, positionals: string[]) => Promise<number>;

/**
 * A command as `--help` and the parser know it: metadata only, so that listing or parsing commands
 * loads none of their code. `load` imports the command's implementation when it is run.
 */
export interface Command {
  name: string;
  summary: string;
  /** The command, its arguments and the options it cannot do without; `usageOf` adds the other options. */
  usage: string;
  help: string;
  options: NonNullable<ParseArgsConfig['options']>;
  load(): Promise<CommandAction>;
}

/**
 * Parse a command's argv, turning parse failures into a usage error that names the command's help;
 * an unknown option is named with the closest known one and the command's usage line.
 */
export function parseCommand(command: Command, argv: string[]) {
  try {
    return parseArgs({ args: withNegativeValues(command, argv), options: command.options, allowPositionals: true, strict: true });
  } catch (error) {
    const unknown = /^Unknown option '(-[^']*)'/.exec((error as Error).message)?.[1];
    if ((error as NodeJS.ErrnoException).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && unknown !== undefined) {
      const near = closestName(unknown.replace(/^-+/, ''), Object.keys(command.options));
      throw new UserError(
        `Unknown option ${unknown} for "statecraft ${command.name}".${near ? ` Did you mean --${near}?` : ''}\nUsage: ${usageOf(command)}\nSee: npx statecraft ${command.name} --help`,
      );
    }
    throw new UserError(`${(error as Error).message}\nSee: npx statecraft ${command.name} --help`);
  }
}

/**
 * `--at -1` joined into `--at=-1`: parseArgs refuses a value starting with a dash as ambiguous, which
 * hides what is wrong; the option's own check then says what values it takes.
 */
function withNegativeValues(command: Command, argv: string[]): string[] {
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') return [...args, ...argv.slice(i)];
    const next = argv[i + 1];
    if (arg.startsWith('--') && command.options[arg.slice(2)]?.type === 'string' && next !== undefined && /^-\d/.test(next)) {
      args.push(`${arg}=${next}`);
      i++;
    } else args.push(arg);
  }
  return args;
}

/**
 * A command's usage line naming every option it takes: `usage` as written, then each option it does
 * not mention, with the placeholder its help gives it (`--limit N`), before `[--store URL]`, so the two
 * cannot drift apart.
 */
export function usageOf(command: Command): string {
  const mentioned = new Set(command.usage.match(/--[a-z][a-z-]*/g) ?? []);
  const rest = Object.entries(command.options)
    .filter(([name]) => !mentioned.has(`--${name}`))
    .map(([name, option]) => {
      if (option.type === 'boolean') return `[--${name}]`;
      const placeholder = new RegExp(`^ +--${name} ([A-Z][A-Z_]*)\\b`, 'm').exec(command.help)?.[1] ?? 'VALUE';
      return `[--${name} ${placeholder}]`;
    });
  if (!rest.length) return command.usage;
  // The store option stays last, where every command puts it.
  const store = ' [--store URL]';
  return command.usage.endsWith(store) ? `${command.usage.slice(0, -store.length)} ${rest.join(' ')}${store}` : `${command.usage} ${rest.join(' ')}`;
}

/** Digits only: Number() would also take '' (as 0), ' 3', '0x3', '1e3' and '3.0'. */
const WHOLE = /^\d+$/;

/** A whole-number option, 0 or more (a record number, a port); undefined when not given. */
export function nonNegativeIntOption(values: Record<string, unknown>, name: string, what = 'a whole number, 0 or more'): number | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const value = typeof raw === 'string' && WHOLE.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(value)) throw new UserError(`--${name} must be ${what}, found "${String(raw)}".`);
  return value;
}

/** A whole-number option, 1 or more (a limit, a count); undefined when not given. */
export function intOption(values: Record<string, unknown>, name: string): number | undefined {
  const value = nonNegativeIntOption(values, name, 'a whole number, 1 or more');
  if (value === 0) throw new UserError(`--${name} must be a whole number, 1 or more, found "${String(values[name])}".`);
  return value;
}
