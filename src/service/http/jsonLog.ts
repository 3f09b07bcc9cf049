import { KEY_LIKE } from '../auth/apiKeys.ts';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Fields whose values are never logged, whatever they hold. */
const SECRET_FIELDS = /^(authorization|cookie|set-cookie|api[-_]?key|key|secret|password|token|x-api-key)$/i;

/** A copy of a log entry in which secrets are replaced: secret-named fields and anything shaped like an API key. */
export function redactEntry(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return value.replace(KEY_LIKE, (key) => `${key.slice(0, 21)}_[redacted]`);
  if (typeof value !== 'object' || value === null || depth > 6) return value;
  if (Array.isArray(value)) return value.map((item) => redactEntry(item, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [field, item] of Object.entries(value)) out[field] = SECRET_FIELDS.test(field) ? '[redacted]' : redactEntry(item, depth + 1);
  if (value instanceof Error) Object.assign(out, { name: value.name, message: redactEntry(value.message, depth + 1) });
  return out;
}

export interface Logger {
  log(level: LogLevel, msg: string, fields?: Record<string, unknown>): void;
}

/** Structured JSON logs, one object per line, secrets redacted; `write` defaults to stdout. */
export function jsonLogger(level: LogLevel = 'info', write: (line: string) => void = (line) => process.stdout.write(line)): Logger {
  return {
    log(at, msg, fields = {}) {
      if (ORDER[at] < ORDER[level]) return;
      write(`${JSON.stringify(redactEntry({ time: new Date().toISOString(), level: at, msg, ...fields }))}\n`);
    },
  };
}
