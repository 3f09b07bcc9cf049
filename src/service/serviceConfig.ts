import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { UserError } from '../errors.ts';
import { DEFAULT_SQLITE_PATH } from '../log/stores/sqlite/sqliteStore.ts';
import { LIMIT_SETTINGS, LimitsSchema } from './limits/limitsConfig.ts';

const NO_AGENTS = 'expected at least one agent module (--agents path/to/agent.ts)';

const Origin = z.string().refine((text) => /^https?:\/\/[^/\s]+$/.test(text), { message: 'expected an origin such as https://app.example.com (scheme and host, no path)' });

/** The service's settings, from flags, the environment or a JSON file, checked here before anything starts. */
export const ServiceConfigSchema = z.strictObject({
  store: z.string().min(1).default(`sqlite:${DEFAULT_SQLITE_PATH}`),
  agents: z
    .array(z.string().min(1), { error: (issue) => (issue.input === undefined ? NO_AGENTS : 'expected a list of agent module paths') })
    .min(1, { message: NO_AGENTS }),
  host: z.string().min(1).default('127.0.0.1'),
  port: z.number().int().min(0).max(65535).default(8080),
  /** Browser origins allowed to call the API (CORS); a request from any other Origin is refused. */
  allowedOrigins: z.array(Origin).default([]),
  bodyLimitBytes: z.number().int().positive().default(1_048_576),
  /** The key that started a run cannot decide its calls. */
  separationOfDuties: z.boolean().default(false),
  shutdownGraceMs: z.number().int().nonnegative().default(10_000),
  /** Failed authentications one client may make within `windowMs` before it is refused for the rest of the window. */
  authFailures: z.strictObject({ max: z.number().int().positive().default(10), windowMs: z.number().int().positive().default(60_000) }).default({ max: 10, windowMs: 60_000 }),
  logLevel: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
  /**
   * Behind one reverse proxy: take the client's address from the last X-Forwarded-For entry (the one
   * the proxy added), so that failed keys are counted per client, not per proxy. Off, the header is ignored.
   */
  trustProxy: z.boolean().default(false),
  /** Request rates, concurrent runs and model quotas, shared by every instance on the store; see `Limits`. */
  limits: LimitsSchema,
  /**
   * A file (mode 600) holding the master key that encrypts tenants' secrets, base64 of 32 bytes on its
   * first line; later lines are previous keys, still read. Without it, STATECRAFT_MASTER_KEY is read.
   */
  masterKeyFile: z.string().min(1).optional(),
  /** Serve the run inspector at /inspector/, behind the API keys (each tenant sees its own runs). */
  inspector: z.boolean().default(true),
  /**
   * The Bearer token GET /metrics (Prometheus' text format) needs; without it there is no /metrics. It is the
   * operator's, not a tenant's: the metrics span every tenant. Needs the prom-client package.
   */
  metricsToken: z.string().regex(/^[A-Za-z0-9._~+\/=-]{24,}$/, { message: 'expected at least 24 characters from A-Z a-z 0-9 . _ ~ + / = - (make one with `openssl rand -hex 24`)' }).optional(),
});
export type ServiceConfig = z.infer<typeof ServiceConfigSchema>;
export type ServiceConfigInput = z.input<typeof ServiceConfigSchema>;

type Source = Record<string, unknown>;

const list = (text: string) => text.split(',').map((item) => item.trim()).filter(Boolean);
const number = (text: string) => (/^\d+$/.test(text.trim()) ? Number(text) : text);
const decimal = (text: string) => (/^\d+(\.\d+)?$/.test(text.trim()) ? Number(text) : text);
const boolean = (text: string) => (/^(1|true|yes)$/i.test(text) ? true : /^(0|false|no)$/i.test(text) ? false : text);

/** Settings from the environment, each under its STATECRAFT_ name (PORT too, as hosts set it). */
function fromEnv(env: NodeJS.ProcessEnv): { values: Source; names: Record<string, string> } {
  const values: Source = {};
  const names: Record<string, string> = {};
  const take = (name: string, key: string, convert: (text: string) => unknown = (text) => text) => {
    const text = env[name];
    if (text === undefined || text === '') return;
    values[key] = convert(text);
    names[key] = name;
  };
  take('STATECRAFT_STORE', 'store');
  take('STATECRAFT_AGENTS', 'agents', list);
  take('STATECRAFT_HOST', 'host');
  take('PORT', 'port', number);
  take('STATECRAFT_PORT', 'port', number);
  take('STATECRAFT_ALLOWED_ORIGINS', 'allowedOrigins', list);
  take('STATECRAFT_BODY_LIMIT', 'bodyLimitBytes', number);
  take('STATECRAFT_SEPARATION_OF_DUTIES', 'separationOfDuties', boolean);
  take('STATECRAFT_SHUTDOWN_GRACE_MS', 'shutdownGraceMs', number);
  take('STATECRAFT_LOG_LEVEL', 'logLevel');
  take('STATECRAFT_TRUST_PROXY', 'trustProxy', boolean);
  take('STATECRAFT_MASTER_KEY_FILE', 'masterKeyFile');
  take('STATECRAFT_INSPECTOR', 'inspector', boolean);
  take('STATECRAFT_METRICS_TOKEN', 'metricsToken');
  const limits: Source = {};
  for (const { key, env: name } of LIMIT_SETTINGS) {
    const text = env[name];
    if (text === undefined || text === '') continue;
    limits[key] = decimal(text);
    names[`limits.${key}`] = name;
  }
  if (Object.keys(limits).length) values.limits = limits;
  return { values, names };
}

function fromFile(path: string): Source {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new UserError(`Could not read the service configuration file ${path}: ${(error as Error).message}.`, { cause: error });
  }
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new SyntaxError('expected a JSON object');
    return parsed as Source;
  } catch (error) {
    throw new UserError(`The service configuration file ${path} is not a JSON object: ${(error as Error).message}. Write it as {"agents": ["agent.ts"], "port": 8080}.`, { cause: error });
  }
}

/** Flag names as `statecraft serve` takes them, for the messages. */
const FLAGS: Record<string, string> = {
  store: '--store',
  agents: '--agents',
  host: '--host',
  port: '--port',
  allowedOrigins: '--allowed-origin',
  bodyLimitBytes: '--body-limit',
  separationOfDuties: '--separation-of-duties',
  shutdownGraceMs: '--shutdown-grace',
  logLevel: '--log-level',
  trustProxy: '--trust-proxy',
  masterKeyFile: '--master-key-file',
  ...Object.fromEntries(LIMIT_SETTINGS.map(({ key, flag }) => [`limits.${key}`, `--${flag}`])),
};

/**
 * The configuration from, in rising precedence, a JSON file (`file`), the environment and flags,
 * checked by zod; an invalid setting is a UserError naming it, where it came from, what was expected
 * and what was found.
 */
export function loadServiceConfig(sources: { flags?: Source; env?: NodeJS.ProcessEnv; file?: string }): ServiceConfig {
  const file = sources.file ? fromFile(sources.file) : {};
  const env = fromEnv(sources.env ?? {});
  const flags = Object.fromEntries(Object.entries(sources.flags ?? {}).filter(([, value]) => value !== undefined));
  const merged = { ...file, ...env.values, ...flags };
  // Limits merge setting by setting: a flag for one limit keeps the others the file sets.
  const limitsOf = (source: Source) => (typeof source.limits === 'object' && source.limits !== null ? (source.limits as Source) : {});
  if ('limits' in merged) merged.limits = { ...limitsOf(file), ...limitsOf(env.values), ...limitsOf(flags) };
  const parsed = ServiceConfigSchema.safeParse(merged);
  if (parsed.success) return parsed.data;
  const lines = parsed.error.issues.slice(0, 5).map((issue) => {
    const [top, second] = issue.path as string[];
    const key = top === 'limits' && second !== undefined && `limits.${second}` in FLAGS ? `limits.${second}` : top;
    const inFlags = key?.startsWith('limits.') ? second! in limitsOf(flags) : key !== undefined && key in flags;
    const inEnv = key?.startsWith('limits.') ? key in env.names : key !== undefined && key in env.values;
    const where = key === undefined ? '' : inFlags ? ` (from ${FLAGS[key] ?? key})` : inEnv ? ` (from ${env.names[key]})` : sources.file ? ` (from ${sources.file})` : '';
    const found = key === undefined ? undefined : issue.path.reduce<unknown>((node, part) => (node as Record<PropertyKey, unknown> | undefined)?.[part as PropertyKey], merged);
    const shown = found === undefined ? '' : `, found ${JSON.stringify(found)}`;
    return `  ${issue.path.join('.') || '(root)'}${where}: ${issue.message}${shown}`;
  });
  throw new UserError(`The service configuration is not valid:\n${lines.join('\n')}\nSee: npx statecraft serve --help`);
}
