import { z } from 'zod';
import { UserError } from '../errors.ts';
import type { ToolCall } from '../protocol/messages.ts';
import type { ToolSpec } from '../protocol/model.ts';
import { isTool, type Tool } from './defineTool.ts';
import { describeSchema } from './describeSchema.ts';
import { byCloseness, closestName } from '../nearestName.ts';
import { ARGUMENT_PARSING, prepareArguments } from './prepareArguments.ts';


/** Why a model's tool call was refused before running. */
export type ToolCallRejection = 'unknown_tool' | 'invalid_json' | 'invalid_arguments' | 'missing_id';

/** The outcome of checking a tool call; `message` is written for the model to read and fix its call. */
export type ValidatedCall =
  | { ok: true; tool: Tool; args: Record<string, unknown> }
  | { ok: false; reason: ToolCallRejection; message: string };

/** A fixed set of tools with unique names. */
export interface Toolbox {
  readonly tools: readonly Tool[];
  specs(): readonly ToolSpec[];
  get(name: string): Tool | undefined;
  validateCall(call: ToolCall): ValidatedCall;
}

/**
 * Gathers tools, refusing duplicate names, and checks the model's tool calls against them.
 * @example
 * const toolbox = createToolbox([search, fetchPage]);
 * const checked = toolbox.validateCall({ id: 'call_1', name: 'search', arguments: '{"query":"zod"}' });
 * if (!checked.ok) sendToModel(checked.message);
 */
export function createToolbox(tools: readonly Tool[]): Toolbox {
  if (!Array.isArray(tools)) throw new UserError(`createToolbox expects an array of tools; found ${typeof tools}.`);
  const byName = new Map<string, Tool>();
  tools.forEach((tool, index) => {
    if (!isTool(tool)) {
      throw new UserError(`createToolbox: tools[${index}] was not made with defineTool(); wrap it in defineTool({...}).`);
    }
    if (byName.has(tool.name)) {
      throw new UserError(
        `createToolbox: two tools are named "${tool.name}" (tools[${tools.indexOf(byName.get(tool.name)!)}] and ` +
          `tools[${index}]); tool names must be unique: rename one of them.`,
      );
    }
    byName.set(tool.name, tool);
  });
  const frozenTools = Object.freeze([...tools]);
  const specs: readonly ToolSpec[] = Object.freeze(
    frozenTools.map((tool) =>
      Object.freeze({ name: tool.name, description: tool.description, parameters: tool.jsonSchema as ToolSpec['parameters'] }),
    ),
  );
  const checked = new WeakMap<ToolCall, ToolCall & { result: ValidatedCall }>();
  return Object.freeze({
    tools: frozenTools,
    specs: () => specs,
    get: (name: string) => byName.get(name),
    validateCall: (call: ToolCall) => {
      // A run checks each call when it is dispatched and again when it runs: the second check of the
      // same, unchanged call reuses the first, so the tool gets the very arguments its policy saw.
      const seen = typeof call === 'object' && call !== null ? checked.get(call) : undefined;
      if (seen && seen.id === call.id && seen.name === call.name && seen.arguments === call.arguments) return seen.result;
      const result = validateCall(byName, call);
      if (typeof call === 'object' && call !== null) checked.set(call, { id: call.id, name: call.name, arguments: call.arguments, result });
      return result;
    },
  });
}

function validateCall(byName: ReadonlyMap<string, Tool>, call: ToolCall): ValidatedCall {
  const c = (typeof call === 'object' && call !== null ? call : {}) as Partial<Record<keyof ToolCall, unknown>>;
  if (typeof c.id !== 'string' || c.id.trim() === '') {
    return {
      ok: false,
      reason: 'missing_id',
      message:
        `The call to tool ${JSON.stringify(c.name)} has no id. Every tool call needs a non-empty, unique id ` +
        'so that its result can be matched to it; call the tool again with an id.',
    };
  }
  const fullName = typeof c.name === 'string' ? c.name : '';
  const tool = byName.get(fullName);
  if (!tool) {
    const name = fullName.length > 100 ? `${fullName.slice(0, 100)}…` : fullName;
    const available = byCloseness(name, [...byName.keys()]);
    const closest = closestName(name, available);
    const hint = closest ? ` Did you mean "${closest}"?` : '';
    return {
      ok: false,
      reason: 'unknown_tool',
      message:
        (name === '' ? `Tool call ${c.id} names no tool: every call needs the name of the tool to run. ` : `There is no tool named ${JSON.stringify(name)} (call ${c.id}).${hint} `) +
        (available.length > 0
          ? `Available tools: ${available.join(', ')}. Call one of them by its exact name.`
          : 'No tools are available: answer without calling a tool.'),
    };
  }
  const text = typeof c.arguments === 'string' ? c.arguments : '';
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    const detail = text.trim() === '' ? 'the arguments were empty' : (error as Error).message;
    return invalidJson(tool, c.id, `could not be parsed as JSON (${detail})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    const found = parsed === null ? 'null' : Array.isArray(parsed) ? 'an array' : `a ${typeof parsed}`;
    return invalidJson(tool, c.id, `were ${found}, not a JSON object`);
  }
  const prepared = prepareArguments(tool.parameters, parsed);
  const result = z.safeParse(tool.parameters, prepared.value, ARGUMENT_PARSING);
  const problems = prepared.unknownKeys.map(
    (u) => `- at ${formatPath(u.path)}: unknown key "${u.key}"; allowed keys: ${u.allowed.join(', ') || '(none)'}`,
  );
  if (!result.success) {
    for (const issue of result.error.issues) problems.push(`- at ${formatPath(issue.path)}: ${issue.message}`);
  }
  if (problems.length > 0 || !result.success) {
    return {
      ok: false,
      reason: 'invalid_arguments',
      message:
        `The arguments for tool "${tool.name}" (call ${c.id}) do not match its parameters:\n${problems.join('\n')}\n` +
        `Expected arguments: ${describeSchema(tool.jsonSchema)}\nFix the arguments and call the tool again.`,
    };
  }
  return { ok: true, tool, args: result.data as Record<string, unknown> };
}

function invalidJson(tool: Tool, id: string, what: string): ValidatedCall {
  return {
    ok: false,
    reason: 'invalid_json',
    message:
      `The arguments for tool "${tool.name}" (call ${id}) ${what}. Arguments must be a JSON object ` +
      `(use {} when no arguments are needed) of this shape: ${describeSchema(tool.jsonSchema)}`,
  };
}

function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(root)';
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join('');
}
