import { UserError } from '../errors.ts';
import type { CredentialsProvider } from './credentialsProvider.ts';
import type { Redactor } from './Redactor.ts';

/** What a tool's context exposes: the secrets that tool declared and the agent was granted. */
export interface ToolSecrets {
  get(name: string): Promise<string>;
}

/** Options of `Secrets`. */
export interface SecretsOptions {
  provider: CredentialsProvider;
  /** Secret names the agent may use; `*` matches any run of characters (`aws_*`). */
  grants: readonly string[];
  redactor: Redactor;
}

/** What a secret name may be: 1-128 letters, digits, "_", "." or "-". */
export const SECRET_NAME = /^[A-Za-z0-9_.-]{1,128}$/;
const GRANT = /^[A-Za-z0-9_.*-]{1,128}$/;

/**
 * Hands secrets to tools: only names the tool declared and the agent was granted, each value registered
 * with the redactor before the tool sees it.
 * @example
 * const secrets = new Secrets({ provider: envCredentials(), grants: ['github_token'], redactor });
 * const token = await secrets.forTool('open_issue', ['github_token']).get('github_token');
 */
export class Secrets {
  readonly #provider: CredentialsProvider;
  readonly #grants: readonly string[];
  readonly #patterns: readonly RegExp[];
  readonly #redactor: Redactor;

  constructor(options: SecretsOptions) {
    if (!Array.isArray(options.grants)) {
      throw new UserError(`Secrets: grants must be an array of secret names or patterns; found ${typeof options.grants}.`);
    }
    for (const grant of options.grants) {
      if (typeof grant !== 'string' || !GRANT.test(grant)) {
        throw new UserError(
          `Secrets: grant ${JSON.stringify(grant)} is not a secret name or pattern; use letters, digits, "_", ".", "-" and "*".`,
        );
      }
    }
    this.#provider = options.provider;
    this.#grants = [...options.grants];
    this.#patterns = options.grants.map(grantPattern);
    this.#redactor = options.redactor;
  }

  /** True when the agent was granted secret `name`. */
  isGranted(name: string): boolean {
    return this.#patterns.some((pattern) => pattern.test(name));
  }

  /** The secret accessor for one tool's context; checks the declared names at once. */
  forTool(toolName: string, declared: readonly string[]): ToolSecrets {
    for (const name of declared) {
      if (typeof name !== 'string' || !SECRET_NAME.test(name)) {
        throw new UserError(
          `Tool "${toolName}" declares secret ${JSON.stringify(name)}, which is not a valid name; ` +
            'use 1-128 letters, digits, "_", "." or "-".',
        );
      }
    }
    const allowed = new Set(declared);
    return {
      get: async (name: string) => {
        if (!allowed.has(name)) {
          const list = declared.length === 0 ? 'none' : declared.join(', ');
          throw new UserError(
            `Tool "${toolName}" asked for secret "${name}", which it does not declare (declared: ${list}); ` +
              `add "${name}" to the tool's secrets: [...].`,
          );
        }
        if (!this.isGranted(name)) {
          const list = this.#grants.length === 0 ? 'none' : this.#grants.join(', ');
          throw new UserError(
            `Tool "${toolName}" asked for secret "${name}", which the agent is not granted (granted: ${list}); ` +
              `add "${name}" to the agent's secret grants if this tool should use it.`,
          );
        }
        const value = await this.#provider.get(name);
        if (value === undefined) {
          const where = this.#provider.locate?.(name) ?? this.#provider.describe();
          throw new UserError(
            `Tool "${toolName}" needs secret "${name}", which was not found in ${where}; provide it there.`,
          );
        }
        if (typeof value !== 'string') {
          throw new UserError(
            `Secret "${name}" from ${this.#provider.describe()} must be a string; found ${typeof value}. Fix the provider.`,
          );
        }
        this.#redactor.register(value, name);
        return value;
      },
    };
  }
}

function grantPattern(grant: string): RegExp {
  const source = grant.split('*').map((part) => part.replace(/[.-]/g, '\\$&')).join('.*');
  return new RegExp(`^${source}$`);
}

/** Secrets for a tool that declared none, or runs outside an agent: every request is refused by name. */
export const noSecrets: ToolSecrets = {
  get: async (name: string) => {
    throw new UserError(
      `Secret "${name}" is not available here: the tool declared no secrets or runs outside an agent with a credentials provider. ` +
        `Declare it in the tool's secrets: ["${name}"] and grant it to the agent (secrets: ["${name}"]).`,
    );
  },
};
