import { closeResources, killResources } from '../openResources.ts';

/** How long the CLI waits for the dispose hooks of the agent modules it loaded before it exits anyway. */
export const DISPOSE_WAIT_MS = 5_000;

/** Exit code after a signal, by the shell's convention (128 + the signal's number). */
export const signalExitCode = (signal: NodeJS.Signals): number => (signal === 'SIGTERM' ? 143 : 130);

const disposers = new Map<string, () => unknown>();
let disposing: Promise<void> | undefined;
let interrupt: ((signal: NodeJS.Signals) => void) | undefined;
let received: NodeJS.Signals | undefined;
let exiting: Promise<never> | undefined;

/** An agent module's `dispose` export, called once when the CLI stops, however it stops. */
export function disposeOnExit(modulePath: string, dispose: () => unknown): void {
  if (!disposers.has(modulePath)) disposers.set(modulePath, dispose);
}

/**
 * Until the returned function is called, the first SIGINT or SIGTERM calls `handler` (which cancels
 * the run, say) instead of stopping the CLI; the command then ends as it will and the CLI exits.
 */
export function onInterrupt(handler: (signal: NodeJS.Signals) => void): () => void {
  interrupt = handler;
  if (received) queueMicrotask(() => handler(received!));
  return () => {
    if (interrupt === handler) interrupt = undefined;
  };
}

/** The signal that interrupted the CLI, if one did. */
export const interruptedBy = (): NodeJS.Signals | undefined => received;

function callDisposers(): Promise<void> {
  disposing ??= Promise.allSettled(
    [...disposers].map(async ([path, dispose]) => {
      try {
        await dispose();
      } catch (error) {
        process.stderr.write(`The dispose() of agent module ${path} threw: ${(error as Error)?.message ?? String(error)}\n`);
      }
    }),
  ).then(() => {});
  return disposing;
}

const flushed = (stream: NodeJS.WriteStream) => new Promise<void>((resolve) => (stream.writableEnded || stream.destroyed ? resolve() : stream.write('', () => resolve())));

/**
 * Ends the CLI: calls the agent modules' dispose hooks (waiting at most DISPOSE_WAIT_MS), closes what
 * the runtime opened (MCP servers and connections, sandboxed commands; what will not end is killed),
 * and exits with `code`, whatever the modules left open.
 */
export function exitCleanly(code: number): Promise<never> {
  exiting ??= (async () => {
    let timer: NodeJS.Timeout | undefined;
    const settled = await Promise.race([
      callDisposers().then(() => true),
      new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), DISPOSE_WAIT_MS))),
    ]);
    clearTimeout(timer);
    if (!settled) {
      const paths = [...disposers.keys()].join(', ');
      process.stderr.write(`The dispose() of agent module ${paths} did not settle within ${DISPOSE_WAIT_MS / 1000} s: exiting without waiting for it.\n`);
    }
    await closeResources();
    await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
    process.exit(code);
  })();
  return exiting;
}

/** Ends the CLI now: every child process is killed first; dispose hooks not yet called are called, not awaited. */
export function exitNow(code: number): never {
  void callDisposers();
  killResources();
  process.exit(code);
}

/**
 * From here on, SIGINT and SIGTERM stop the CLI cleanly: the first one cancels the running command's
 * run (see `onInterrupt`), or, with none, ends the CLI as `exitCleanly` does; a second one, or one
 * that arrives while the CLI is already ending, exits at once after killing every child process.
 */
export function handleSignals(): void {
  const on = (signal: NodeJS.Signals) => {
    if (received || exiting) exitNow(signalExitCode(received ?? signal));
    received = signal;
    if (interrupt) interrupt(signal);
    else void exitCleanly(signalExitCode(signal));
  };
  process.on('SIGINT', on);
  process.on('SIGTERM', on);
  // An uncaught error ends the process without `exitCleanly`: the hooks are still called (not awaited).
  process.once('exit', () => void callDisposers());
}
