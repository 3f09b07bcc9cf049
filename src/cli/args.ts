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

export function intOption(values: Record<string, unknown>, name: string): number | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) {
    throw new UserError(`--${name} must be a positive number, found "${String(raw)}".`);
  }
  return value;
}
