/** Base of every error Statecraft throws; `name` is the concrete class name. */
export class StatecraftError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The user's configuration or call is wrong: fix the code or the arguments. */
export class UserError extends StatecraftError {}

/** The model produced something the runtime cannot use. */
export class ModelBehaviorError extends StatecraftError {}

/** The model provider failed (HTTP status, network, timeout) after retries. */
export class ModelCallError extends StatecraftError {
  readonly status: number | undefined;
  readonly retryable: boolean;
  constructor(message: string, options: ErrorOptions & { status?: number; retryable?: boolean } = {}) {
    super(message, options);
    this.status = options.status;
    this.retryable = options.retryable ?? false;
  }
}

/** A tool failed, timed out or was cancelled. */
export class ToolError extends StatecraftError {}

/** A store or log could not be read or written. */
export class StorageError extends StatecraftError {}

/** Another writer appended to the same run first. */
export class ConflictError extends StorageError {}

/** The run was cancelled from outside. */
export class CancelledError extends StatecraftError {}
