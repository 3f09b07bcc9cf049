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
  | 'changed_during_open';

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
