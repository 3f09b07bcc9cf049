import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UserError } from '../errors.ts';

export interface Command {
  name: string;
  summary: string;
  usage: string;
  help: string;
  options: NonNullable<ParseArgsConfig['options']>;
  run(values: Record<string, string | boolean | undefined>, positionals: string[]): Promise<number>;
}

/** Parse a command's argv, turning parse failures into a usage error that names the command's help. */
export function parseCommand(command: Command, argv: string[]) {
  try {
    return parseArgs({ args: argv, options: command.options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UserError(`${(error as Error).message}\nSee: statecraft ${command.name} --help`);
  }
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
