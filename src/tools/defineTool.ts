import { z } from 'zod';
import { UserError } from '../errors.ts';
import type { ToolSecrets } from '../credentials/Secrets.ts';
import type { Policy } from '../policy/policy.ts';
import type { RunIdentity } from '../protocol/agent.ts';
import { toStrictJsonSchema, type JsonSchema } from './strictSchema.ts';

/** What a tool's `execute` receives besides its arguments. */
export interface ToolContext {
  /** Aborted when the attempt times out or the run is cancelled. */
  signal: AbortSignal;
  runId: string;
  callId: string;
  /** Stable across attempts and resumes of the same call, unique to it in the run: pass it to external services. */
  idempotencyKey: string;
  /** 1 for the first attempt. */
  attempt: number;
  toolName: string;
  /** The secrets this tool declared, limited by the agent's grants; values never reach the model or the log. */
  secrets: ToolSecrets;
  /** The full output of an earlier call that compaction elided from the context, by the id its stub names. */
  elidedOutput?(id: string): string | undefined;
  /** Who the run is for (tenant, user, thread), as its caller said. */
  identity?: Readonly<RunIdentity>;
}

/** What a restarted run does with a call of this tool that started and never finished. */
export type OnResume = 'rerun' | 'ask' | 'fail';

/** How a tool is declared; see `defineTool`. */
export interface ToolDefinition<S extends z.ZodObject> {
  name: string;
  description: string;
  parameters: S;
  execute(args: z.output<S>, ctx: ToolContext): unknown;
  /** Shorthand for `policy: 'ask'`. */
  needsApproval?: boolean;
  /** allow, ask (wait for a human) or deny, or a function of the parsed arguments; the agent's policies also apply. */
  policy?: Policy<z.output<S>>;
  timeoutMs?: number;
  retries?: number | { max: number; backoffMs?: number };
  maxOutputChars?: number;
  onResume?: OnResume;
  idempotent?: boolean;
  /** Scopes the agent must be granted for the model to be offered this tool. */
  scopes?: readonly string[];
  /** Names of the secrets `ctx.secrets.get` may return to this tool. */
  secrets?: readonly string[];
}

/** A validated, frozen tool; `jsonSchema` is the strict JSON schema offered to the model. */
export interface Tool<S extends z.ZodObject = z.ZodObject> {
  readonly name: string;
  readonly description: string;
  readonly parameters: S;
  execute(args: z.output<S>, ctx: ToolContext): unknown;
  readonly needsApproval: boolean;
  readonly policy: Policy<z.output<S>> | undefined;
  readonly timeoutMs: number | undefined;
  readonly retries: { readonly max: number; readonly backoffMs: number };
  readonly maxOutputChars: number | undefined;
  readonly onResume: OnResume;
  readonly idempotent: boolean;
  readonly scopes: readonly string[];
  readonly secrets: readonly string[];
  readonly jsonSchema: Readonly<JsonSchema>;
}

const NAME_PATTERN = /^[a-zA-Z0-9_-]{1,64}$/;
const DEFAULT_BACKOFF_MS = 250;
const ON_RESUME: readonly OnResume[] = ['rerun', 'ask', 'fail'];
const defined = new WeakSet<object>();

/** True when `value` was made by `defineTool`. */
export function isTool(value: unknown): value is Tool {
  return typeof value === 'object' && value !== null && defined.has(value);
}

/**
 * Declares a tool, checking its definition at once (name, description, limits, strict-mode schema).
 * @example
 * const search = defineTool({
 *   name: 'search',
 *   description: 'Search the docs.',
 *   parameters: z.object({ query: z.string(), limit: z.number().int().optional() }),
 *   execute: async ({ query, limit }, ctx) => searchDocs(query, limit ?? 5, ctx.signal),
 * });
 */
export function defineTool<S extends z.ZodObject>(definition: ToolDefinition<S>): Tool<S> {
  const d = definition as Partial<ToolDefinition<S>>;
  const label = typeof d.name === 'string' ? `Tool "${d.name}"` : 'defineTool';
  const fail = (message: string): never => {
    throw new UserError(`${label}: ${message}`);
  };
  if (typeof d.name !== 'string' || !NAME_PATTERN.test(d.name)) {
    const suggestion = typeof d.name === 'string' ? d.name.replace(/[^a-zA-Z0-9_-]/g, '_').slice(0, 64) : '';
    fail(
      `name must be 1-64 characters from a-z, A-Z, 0-9, "_" and "-" (OpenAI's rule); found ${JSON.stringify(d.name)}` +
        (suggestion ? `; use e.g. "${suggestion}"` : ''),
    );
  }
  if (typeof d.description !== 'string' || d.description.trim() === '') {
    fail('description must be a non-empty string telling the model when and how to use the tool.');
  }
  if (!(d.parameters instanceof z.ZodObject)) {
    fail('parameters must be a zod object (z.object({...})); for a tool without parameters use z.object({}).');
  }
  if (typeof d.execute !== 'function') fail(`execute must be a function; found ${typeof d.execute}.`);
  if (d.timeoutMs !== undefined && !(Number.isFinite(d.timeoutMs) && d.timeoutMs > 0)) {
    fail(`timeoutMs must be a positive number of milliseconds; found ${String(d.timeoutMs)}.`);
  }
  if (d.maxOutputChars !== undefined && !(Number.isInteger(d.maxOutputChars) && d.maxOutputChars > 0)) {
    fail(`maxOutputChars must be a positive integer; found ${String(d.maxOutputChars)}.`);
  }
  const retries = normaliseRetries(d.retries, fail);
  if (d.onResume !== undefined && !ON_RESUME.includes(d.onResume)) {
    fail(`onResume must be one of ${ON_RESUME.join(', ')}; found ${JSON.stringify(d.onResume)}.`);
  }
  if (d.scopes !== undefined && !(Array.isArray(d.scopes) && d.scopes.every((s) => typeof s === 'string' && s))) {
    fail('scopes must be an array of non-empty strings.');
  }
  if (d.secrets !== undefined && !(Array.isArray(d.secrets) && d.secrets.every((s) => typeof s === 'string' && s))) {
    fail('secrets must be an array of secret names.');
  }
  if (d.policy !== undefined && typeof d.policy !== 'function' && !['allow', 'ask', 'deny'].includes(d.policy)) {
    fail(`policy must be 'allow', 'ask', 'deny' or a function of the arguments; found ${JSON.stringify(d.policy)}.`);
  }
  const definitionOk = d as ToolDefinition<S>;
  const jsonSchema = deepFreeze(toStrictJsonSchema(definitionOk.parameters, definitionOk.name));
  const idempotent = d.idempotent ?? false;
  const tool: Tool<S> = {
    name: definitionOk.name,
    description: definitionOk.description,
    parameters: definitionOk.parameters,
    execute: definitionOk.execute,
    needsApproval: d.needsApproval ?? false,
    policy: d.policy,
    timeoutMs: d.timeoutMs,
    retries: Object.freeze(retries),
    maxOutputChars: d.maxOutputChars,
    onResume: d.onResume ?? (idempotent ? 'rerun' : 'fail'),
    idempotent,
    scopes: Object.freeze([...(d.scopes ?? [])]),
    secrets: Object.freeze([...(d.secrets ?? [])]),
    jsonSchema,
  };
  Object.freeze(tool);
  defined.add(tool);
  return tool;
}

function normaliseRetries(
  retries: ToolDefinition<z.ZodObject>['retries'],
  fail: (message: string) => never,
): { max: number; backoffMs: number } {
  if (retries === undefined) return { max: 0, backoffMs: DEFAULT_BACKOFF_MS };
  const max = typeof retries === 'number' ? retries : retries?.max;
  const backoffMs = typeof retries === 'number' ? DEFAULT_BACKOFF_MS : (retries?.backoffMs ?? DEFAULT_BACKOFF_MS);
  if (typeof max !== 'number' || !Number.isInteger(max) || max < 0) {
    fail(`retries must be a non-negative integer (or { max, backoffMs }); found ${JSON.stringify(retries)}.`);
  }
  if (!Number.isFinite(backoffMs) || backoffMs < 0) {
    fail(`retries.backoffMs must be a non-negative number of milliseconds; found ${String(backoffMs)}.`);
  }
  return { max: max as number, backoffMs };
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
