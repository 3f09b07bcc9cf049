import { ToolError } from '../../errors.ts';

/** Why the workspace refused a path. */
export type WorkspaceRefusal =
  | 'invalid_path'
  | 'outside_root'
  | 'symlink_outside'
  | 'symlink_loop'
  | 'not_found'
  | 'not_a_file'
  | 'not_a_directory'
  | 'special_file'
  | 'hard_link'
  | 'too_large'
  | 'changed_during_open'
  | 'io_error';

/** A path the model asked for was refused; `path` is what it sent, `reason` a stable code. */
export class WorkspaceError extends ToolError {
  readonly reason: WorkspaceRefusal;
  readonly path: string;
  constructor(reason: WorkspaceRefusal, path: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.reason = reason;
    this.path = path;
  }
}

/** A refusal of the path the model sent, saying what was wrong and what to do. */
export const refuse = (reason: WorkspaceRefusal, input: string, message: string): WorkspaceError =>
  new WorkspaceError(reason, input, `Refused path ${JSON.stringify(input)}: ${message}`);

export const tooLarge = (input: string, display: string, size: number, grew: boolean, limit: number): WorkspaceError =>
  refuse(
    'too_large',
    input,
    `"${display}" ${grew ? `grew past ${limit} bytes while being read` : `is ${size} bytes`}, over the read limit of ${limit} bytes; use search_files to find the lines you need.`,
  );

export const notAFile = (input: string, display: string): WorkspaceError =>
  refuse('not_a_file', input, `"${display}" is a folder, not a file; use list_files to see what it holds.`);

/** A path that leads outside the root, through ".." or through a symbolic link (`viaLink`). */
export const outside = (input: string, viaLink: boolean): WorkspaceError =>
  viaLink
    ? refuse('symlink_outside', input, `"${input}" follows a symbolic link that leads outside the workspace root; only links that stay inside are followed.`)
    : refuse('outside_root', input, `"${input}" leads outside the workspace root through ".."; use a path inside the workspace, relative to its root.`);

export const changedDuringOpen = (input: string, display: string, what: string): WorkspaceError =>
  refuse('changed_during_open', input, `"${display}" ${what} while it was being opened; nothing was read or written. Try again.`);

// A file system error's own message names the path the kernel saw (a /proc/self/fd/N magic link or a
// host path), never what the model sent: only its code is kept.
const RACE_CODES = new Set(['ELOOP', 'ENOTDIR', 'ENOENT', 'EMLINK', 'EINVAL', 'EISDIR', 'ENOTEMPTY', 'EEXIST', 'ENXIO', 'ESTALE']);
const CODE_TEXT: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'read-only file system',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files',
  ENAMETOOLONG: 'a name in the path is too long',
  EIO: 'input/output error',
  EFBIG: 'file too large',
};

/**
 * Turns any error met while working on `input` into a refusal naming `input` (and `display`, the
 * workspace-relative path reached); errors that carry no system error code are returned unchanged.
 */
export function asRefusal(error: unknown, input: string, display: string = input): unknown {
  if (error instanceof WorkspaceError) return error;
  const code = (error as NodeJS.ErrnoException | null)?.code;
  if (typeof code !== 'string') return error;
  if (RACE_CODES.has(code)) return changedDuringOpen(input, display, `changed (${code})`);
  return refuse('io_error', input, `"${display}" could not be used: ${CODE_TEXT[code] ?? 'the system refused'} (${code}).`);
}
