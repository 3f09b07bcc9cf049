import type { z } from 'zod';
import { delay, MAX_TIMER_MS } from '../delay.ts';
import { CancelledError, ToolError } from '../errors.ts';
import type { Tool, ToolContext } from './defineTool.ts';

/** What one tool call produced, ready to hand to the model. */
export interface ToolResult {
  /** Text for the model: the output, or what went wrong. */
  content: string;
  isError: boolean;
  truncated: boolean;
  attempts: number;
  durationMs: number;
  error?: { kind: 'timeout' | 'cancelled' | 'thrown'; message: string };
}

export interface RunToolOptions {
  ctx: Omit<ToolContext, 'signal' | 'attempt'>;
  /** Cancels the call: the result comes back at once, even if the tool ignores its own signal. */
  signal?: AbortSignal;
  defaultTimeoutMs?: number;
  /** Used when the tool sets no `maxOutputChars`; 20000 by default. */
  maxOutputChars?: number;
  /**
   * Applied to the output and error messages before the output is cut to `maxOutputChars`, so that a
   * cut inside a secret leaves no part of it (a run passes its redactor's).
   */
  redact?: (text: string) => string;
}

const DEFAULT_TIMEOUT_MS = 60_000;
const DEFAULT_MAX_OUTPUT_CHARS = 20_000;

type Outcome =
  | { kind: 'ok'; value: unknown }
  | { kind: 'thrown'; message: string }
  | { kind: 'timeout'; message: string }
  | { kind: 'cancelled'; message: string };

/**
 * Runs a tool with validated arguments: per-attempt timeout, retries with exponential backoff,
 * cancellation, output serialisation and truncation; never throws for a tool's failure.
 * @example
 * const result = await runTool(search, { query: 'zod' }, {
 *   ctx: { runId: 'run_1', callId: 'call_1', idempotencyKey: 'run_1:call_1', toolName: 'search' },
 *   signal: controller.signal,
 * });
 */
export async function runTool<S extends z.ZodObject>(
  tool: Tool<S>,
  args: z.output<S>,
  options: RunToolOptions,
): Promise<ToolResult> {
  const started = performance.now();
  const timeoutMs = tool.timeoutMs ?? options.defaultTimeoutMs ?? DEFAULT_TIMEOUT_MS;
  const cap = tool.maxOutputChars ?? options.maxOutputChars ?? DEFAULT_MAX_OUTPUT_CHARS;
  const maxAttempts = tool.retries.max + 1;
  const outer = options.signal;
  const redact = options.redact ?? ((text: string) => text);
  let attempts = 0;

  const finish = (content: string, error?: ToolResult['error']): ToolResult => {
    const cut = truncate(redact(content), cap);
    const result: ToolResult = {
      content: cut.text,
      isError: error !== undefined,
      truncated: cut.truncated,
      attempts,
      durationMs: performance.now() - started,
    };
    if (error) result.error = { kind: error.kind, message: redact(error.message) };
    return result;
  };
  const cancelled = (message: string): ToolResult =>
    finish(`Tool "${tool.name}" was cancelled before it finished; no result is available.`, {
      kind: 'cancelled',
      message,
    });

  for (;;) {
    if (outer?.aborted) return cancelled(reasonMessage(outer.reason));
    attempts += 1;
    const outcome = await attempt(tool, args, { ...options.ctx, attempt: attempts }, timeoutMs, outer);
    if (outcome.kind === 'ok') {
      const serialised = serialise(outcome.value);
      if (serialised.ok) return finish(serialised.text);
      return finish(`Tool "${tool.name}" returned a value that cannot be sent as text: ${serialised.message}`, {
        kind: 'thrown',
        message: serialised.message,
      });
    }
    if (outcome.kind === 'cancelled') return cancelled(outcome.message);
    if (attempts >= maxAttempts) {
      const tries = attempts > 1 ? ` after ${attempts} attempts` : '';
      const content =
        outcome.kind === 'timeout'
          ? `Tool "${tool.name}" did not finish within ${timeoutMs} ms and was stopped${tries}.`
          : `Tool "${tool.name}" failed${tries}: ${outcome.message}`;
      return finish(content, { kind: outcome.kind, message: outcome.message });
    }
    const waited = await delay(tool.retries.backoffMs * 2 ** (attempts - 1), outer);
    if (!waited) return cancelled(reasonMessage(outer?.reason));
  }
}

async function attempt<S extends z.ZodObject>(
  tool: Tool<S>,
  args: z.output<S>,
  base: Omit<ToolContext, 'signal'>,
  timeoutMs: number,
  outer: AbortSignal | undefined,
): Promise<Outcome> {
  // The attempt's signal is made when the tool first reads it: most tools never do, and an
  // AbortController with its listeners costs more than a simple tool's whole call.
  let controller: AbortController | undefined;
  let stoppedWith: { outcome: Outcome; reason: unknown } | undefined;
  let resolveStopped: (outcome: Outcome) => void = () => {};
  const stopped = new Promise<Outcome>((resolve) => (resolveStopped = resolve));
  const stop = (outcome: Outcome, reason: unknown): void => {
    if (stoppedWith) return;
    stoppedWith = { outcome, reason };
    controller?.abort(reason);
    resolveStopped(outcome);
  };
  const onOuterAbort = (): void => {
    const reason: unknown = outer?.reason ?? new CancelledError('The run was cancelled.');
    stop({ kind: 'cancelled', message: reasonMessage(reason) }, reason);
  };
  outer?.addEventListener('abort', onOuterAbort, { once: true });
  const timer =
    timeoutMs <= MAX_TIMER_MS
      ? setTimeout(() => {
          // Made when the timer fires: an Error captures a stack, which is not free on every call.
          const reason = new ToolError(`Tool "${tool.name}" (call ${base.callId}, attempt ${base.attempt}) timed out after ${timeoutMs} ms.`);
          stop({ kind: 'timeout', message: reason.message }, reason);
        }, timeoutMs)
      : undefined;
  const ctx: ToolContext = {
    ...base,
    get signal(): AbortSignal {
      if (!controller) {
        controller = new AbortController();
        if (stoppedWith) controller.abort(stoppedWith.reason);
      }
      return controller.signal;
    },
  };
  // The tool may ignore its signal: it is raced, never awaited after an abort, and its late
  // rejection is absorbed here so it cannot surface as an unhandled rejection.
  const running = (async () => tool.execute(args, ctx))().then(
    (value): Outcome => ({ kind: 'ok', value }),
    (error: unknown): Outcome => ({ kind: 'thrown', message: reasonMessage(error) }),
  );
  try {
    const outcome = await Promise.race([running, stopped]);
    // A tool that throws because its signal aborted was stopped, not failed.
    return outcome.kind === 'thrown' && stoppedWith ? stoppedWith.outcome : outcome;
  } finally {
    if (timer) clearTimeout(timer);
    outer?.removeEventListener('abort', onOuterAbort);
  }
}

function reasonMessage(reason: unknown): string {
  if (reason instanceof Error) return reason.message || reason.name;
  if (typeof reason === 'string') return reason;
  if (reason === undefined) return 'cancelled';
  try {
    return JSON.stringify(reason) ?? String(reason);
  } catch {
    return String(reason);
  }
}

function serialise(value: unknown): { ok: true; text: string } | { ok: false; message: string } {
  if (typeof value === 'string') return { ok: true, text: value };
  if (value === undefined) return { ok: true, text: '(no output)' };
  try {
    const text = JSON.stringify(value);
    return { ok: true, text: text ?? '(no output)' };
  } catch (error) {
    return { ok: false, message: `JSON.stringify failed (${reasonMessage(error)}); return a string or plain JSON data.` };
  }
}

function truncate(text: string, cap: number): { text: string; truncated: boolean } {
  if (text.length <= cap) return { text, truncated: false };
  const noteFor = (kept: number): string =>
    `\n\n[Output cut: ${text.length - kept} of ${text.length} characters were dropped. ` +
    'Ask for less (a narrower query, fewer items or a smaller range) to see the rest.]';
  let kept = cap;
  for (let i = 0; i < 3; i++) kept = Math.max(0, cap - noteFor(kept).length);
  const code = text.charCodeAt(kept - 1);
  if (kept > 0 && code >= 0xd800 && code <= 0xdbff) kept -= 1;
  return { text: text.slice(0, kept) + noteFor(kept), truncated: true };
}
