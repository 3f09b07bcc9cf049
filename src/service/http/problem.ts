import { ConflictError, StatecraftError, StorageError, UserError } from '../../errors.ts';
import { RecordNotFoundError, RunExistsError, RunNotFoundError } from '../../log/format/storageErrors.ts';
import { RunInUseError } from '../../recorder/owner.ts';

/** An RFC 9457 problem document, as the service answers every error. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance?: string;
  /** For invalid input: where and what, as zod says it. */
  issues?: { path: string; message: string }[];
}

const TYPE_BASE = 'https://statecraft.dev/problems/';

/** An error the service answers with a status of its choosing; `slug` names the problem type. */
export class ProblemError extends StatecraftError {
  readonly status: number;
  readonly slug: string;
  readonly title: string;
  readonly headers: Record<string, string>;
  readonly issues: Problem['issues'];
  constructor(status: number, slug: string, title: string, detail: string, options: { headers?: Record<string, string>; issues?: Problem['issues'] } = {}) {
    super(detail);
    this.status = status;
    this.slug = slug;
    this.title = title;
    this.headers = options.headers ?? {};
    this.issues = options.issues;
  }
}

/** The same answer whether the run is another tenant's or does not exist, so that ids are not confirmed. */
export const runNotFound = (runId: string) =>
  new ProblemError(404, 'run-not-found', 'Run not found', `No run "${runId}" in your tenant: check the id, or list your runs with GET /v1/runs.`);

/** The problem for any error a handler throws: the user's errors keep their own wording (as the CLI prints it). */
export function problemOf(error: unknown, instance: string): Problem & { headers?: Record<string, string> } {
  const make = (status: number, slug: string, title: string, detail: string) => ({ type: `${TYPE_BASE}${slug}`, title, status, detail, instance });
  if (error instanceof ProblemError) {
    return { ...make(error.status, error.slug, error.title, error.message), ...(error.issues ? { issues: error.issues } : {}), headers: error.headers };
  }
  if (error instanceof RunNotFoundError) return make(404, 'run-not-found', 'Run not found', `No run "${error.runId}" in your tenant: check the id, or list your runs with GET /v1/runs.`);
  if (error instanceof RecordNotFoundError) return make(404, 'record-not-found', 'Record not found', error.message);
  if (error instanceof RunInUseError) {
    // The CLI's wording offers --take-over, which is not the caller's to use here.
    return make(409, 'run-in-use', 'Run in use', `Run ${error.runId} is being continued by another process (pid ${error.owner.pid} on ${error.owner.host}), so nothing was done: retry in a moment, once it is waiting or has ended.`);
  }
  if (error instanceof RunExistsError || error instanceof ConflictError) return make(409, 'conflict', 'Conflict', error.message);
  if (error instanceof UserError) return make(422, 'not-processable', 'Request cannot be carried out', error.message);
  if (error instanceof StorageError) return make(503, 'storage-unavailable', 'Storage unavailable', 'The run store could not be read or written; try again shortly.');
  return make(500, 'internal', 'Internal error', 'The service failed to answer this request; it was logged. Try again, and report it if it persists.');
}
