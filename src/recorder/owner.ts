import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { UserError } from '../errors.ts';
import type { RunOwner, RunSummary } from '../log/format/record.ts';

/**
 * A running run names the process it runs in (`RunSummary.owner`) and renews the claim by writing at
 * least this often: its records do, and while it waits on a long model or tool call, a summary-only
 * write does.
 */
export const OWNER_RENEW_MS = 5_000;
/** A claim not renewed for this long is taken to be from a process that is gone (or frozen). */
export const OWNER_EXPIRES_MS = 30_000;

/** Two processes may not continue one run: the other is still running it. */
export class RunInUseError extends UserError {
  readonly runId: string;
  readonly owner: RunOwner;
  constructor(runId: string, owner: RunOwner, heardMsAgo: number) {
    super(
      `Run ${runId} is running in another process (pid ${owner.pid} on ${owner.host}, last heard from ${Math.max(0, Math.round(heardMsAgo / 1000))} s ago), ` +
        `and two processes cannot continue one run. Wait for it to end, or stop it there (Ctrl-C, or run.cancel()). ` +
        `If that process is gone, continue the run here with: npx statecraft resume ${runId} --take-over (takeOver: true in code).`,
    );
    this.runId = runId;
    this.owner = owner;
  }
}

/** The claims of the runs this process is running now (by id), so it knows its own ended ones. */
const heldHere = new Set<string>();

/** This process's claim on a run it is about to run; held until `releaseOwner`. */
export function newOwner(): RunOwner {
  const owner = { host: hostname(), pid: process.pid, id: randomUUID() };
  heldHere.add(owner.id);
  return owner;
}

/** The run this claim was made for has settled in this process. */
export function releaseOwner(owner: RunOwner): void {
  heldHere.delete(owner.id);
}

/**
 * The owner of a running run that still runs it, as far as this process can tell, or undefined: a
 * claim renewed within OWNER_EXPIRES_MS, from a process that exists when it is on this host, and
 * from a run not yet settled when it is this process (a run whose process crashed on this machine can
 * be resumed at once; one from another machine once its claim expires).
 */
export function liveOwner(summary: RunSummary, now = Date.now()): RunOwner | undefined {
  const { owner } = summary;
  if (summary.status !== 'running' || !owner) return undefined;
  if (now - Date.parse(summary.updatedAt) >= OWNER_EXPIRES_MS) return undefined;
  if (owner.host !== hostname()) return owner;
  if (owner.pid === process.pid) return heldHere.has(owner.id) ? owner : undefined;
  try {
    process.kill(owner.pid, 0);
    return owner;
  } catch (error) {
    // EPERM: the process exists, under another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM' ? owner : undefined;
  }
}

/** Refuses to continue a run another process is running, unless the caller takes it over. */
export function assertNotInUse(summary: RunSummary, takeOver = false): void {
  if (takeOver) return;
  const owner = liveOwner(summary);
  if (owner) throw new RunInUseError(summary.runId, owner, Date.now() - Date.parse(summary.updatedAt));
}
