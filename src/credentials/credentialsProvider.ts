import { readFile, stat } from 'node:fs/promises';
import { UserError } from '../errors.ts';

/** Where secret values come from; implementations never put a value in an error or description. */
export interface CredentialsProvider {
  /** The value of secret `name`, or undefined when this provider does not have it. */
  get(name: string): Promise<string | undefined> | string | undefined;
  /** Where this provider looks, for error messages, e.g. `environment (STATECRAFT_SECRET_*)`. */
  describe(): string;
  /** Where this provider would look for `name` specifically, e.g. `STATECRAFT_SECRET_GITHUB_TOKEN`. */
  locate?(name: string): string;
}

/** The environment variable name for a secret: `github_token` -> `STATECRAFT_SECRET_GITHUB_TOKEN`. */
export function envVariableName(name: string, prefix = 'STATECRAFT_SECRET_'): string {
  return prefix + name.toUpperCase().replace(/[^A-Z0-9_]/g, '_');
}

/**
 * Reads secrets from environment variables named prefix + upper-cased name; empty values count as unset.
 * @example
 * // STATECRAFT_SECRET_GITHUB_TOKEN=ghp_... statecraft run agent.ts
 * const provider = envCredentials();
 */
export function envCredentials(options: { prefix?: string; env?: NodeJS.ProcessEnv } = {}): CredentialsProvider {
  const prefix = options.prefix ?? 'STATECRAFT_SECRET_';
  const env = options.env ?? process.env;
  return {
    get: (name) => {
      const value = env[envVariableName(name, prefix)];
      return value === '' ? undefined : value;
    },
    describe: () => `environment (${prefix}*)`,
    locate: (name) => `environment variable ${envVariableName(name, prefix)}`,
  };
}

/** Serves secrets from an in-memory record; for tests and for callers with their own secret store. */
export function mapCredentials(record: Readonly<Record<string, string>>, label = 'in-memory map'): CredentialsProvider {
  const values = new Map(Object.entries(record));
  return {
    get: (name) => values.get(name),
    describe: () => `${label} (${values.size} names)`,
  };
}

/** Asks each provider in turn and returns the first value found. */
export function chainCredentials(...providers: CredentialsProvider[]): CredentialsProvider {
  if (providers.length === 0) throw new UserError('chainCredentials: expected at least one provider; found none.');
  return {
    get: async (name) => {
      for (const provider of providers) {
        const value = await provider.get(name);
        if (value !== undefined) return value;
      }
      return undefined;
    },
    describe: () => providers.map((provider) => provider.describe()).join(', then '),
    locate: (name) =>
      providers.map((provider) => provider.locate?.(name) ?? provider.describe()).join(', then '),
  };
}

/**
 * Reads secrets once from a JSON object file or a .env-style `KEY=value` file that only its owner can read.
 * A name is looked up as written, then in its environment-variable form (`github_token`, then `GITHUB_TOKEN`).
 * @example
 * const provider = fileCredentials(`${os.homedir()}/.config/statecraft/secrets.env`);
 */
export function fileCredentials(path: string, options: { allowLooseMode?: boolean } = {}): CredentialsProvider {
  let loaded: Promise<Map<string, string>> | undefined;
  const load = () => (loaded ??= loadCredentialsFile(path, options.allowLooseMode ?? false));
  return {
    get: async (name) => {
      const values = await load();
      return values.get(name) ?? values.get(envVariableName(name, ''));
    },
    describe: () => `file ${path}`,
    locate: (name) => `file ${path} (key ${name} or ${envVariableName(name, '')})`,
  };
}

async function loadCredentialsFile(path: string, allowLooseMode: boolean): Promise<Map<string, string>> {
  let info;
  try {
    info = await stat(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unknown error';
    throw new UserError(`Credentials file ${path} could not be read (${code}); create it or fix the path.`);
  }
  if (!info.isFile()) throw new UserError(`Credentials file ${path} is not a regular file; point to a file.`);
  const loose = info.mode & 0o077;
  if (loose !== 0 && !allowLooseMode && process.platform !== 'win32') {
    throw new UserError(
      `Credentials file ${path} has mode ${(info.mode & 0o777).toString(8)}, readable or writable by group or ` +
        `others; expected 600 or stricter. Run \`chmod 600 ${path}\` or pass { allowLooseMode: true }.`,
    );
  }
  const text = await readFile(path, 'utf8');
  return text.trimStart().startsWith('{') ? parseJsonCredentials(text, path) : parseEnvCredentials(text, path);
}

function parseJsonCredentials(text: string, path: string): Map<string, string> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // The parser's own message quotes the surrounding text, which may be a secret: never pass it on.
    throw new UserError(`Credentials file ${path} starts with "{" but is not valid JSON; fix its syntax.`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new UserError(`Credentials file ${path}: expected a JSON object of name to string; found ${typeof parsed}.`);
  }
  const values = new Map<string, string>();
  for (const [key, value] of Object.entries(parsed)) {
    if (typeof value !== 'string') {
      throw new UserError(`Credentials file ${path}: key "${key}" must hold a string; found ${typeof value}.`);
    }
    values.set(key, value);
  }
  return values;
}

function parseEnvCredentials(text: string, path: string): Map<string, string> {
  const values = new Map<string, string>();
  const lines = text.split(/\r?\n/);
  for (let index = 0; index < lines.length; index++) {
    const line = (lines[index] as string).trim();
    if (line === '' || line.startsWith('#')) continue;
    const match = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(.*)$/.exec(line);
    if (match === null) {
      throw new UserError(
        `Credentials file ${path}, line ${index + 1}: expected KEY=value (or a # comment); fix that line.`,
      );
    }
    values.set(match[1] as string, unquote(match[2] as string, path, index + 1));
  }
  return values;
}

function unquote(raw: string, path: string, line: number): string {
  const quote = raw[0];
  if (quote !== '"' && quote !== "'") return raw.replace(/\s+#.*$/, '');
  const end = raw.lastIndexOf(quote);
  if (end === 0) {
    throw new UserError(`Credentials file ${path}, line ${line}: the quoted value is not closed; add the closing ${quote}.`);
  }
  const inner = raw.slice(1, end);
  if (quote === "'") return inner;
  return inner.replace(/\\([nrt"\\])/g, (_, c: string) => ({ n: '\n', r: '\r', t: '\t' })[c] ?? c);
}
