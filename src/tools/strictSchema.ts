import { z } from 'zod';
import { UserError } from '../errors.ts';

/** A JSON schema node as plain data. */
export type JsonSchema = Record<string, unknown>;

const RECORD_FIX = 'use z.array(z.object({ key: z.string(), value: ... })) or a z.object with named fields';

const UNSUPPORTED_KEYWORDS: Record<string, [what: string, fix: string]> = {
  allOf: ['an intersection that cannot be merged into one object', 'use one z.object (a.extend(b.shape))'],
  not: ['a negated schema ("not")', 'describe the allowed values directly'],
  if: ['a conditional schema ("if"/"then"/"else")', 'use a z.discriminatedUnion of objects'],
  dependentRequired: ['an object with dependent requirements', 'make the fields optional instead'],
  dependentSchemas: ['an object with dependent schemas', 'use a z.discriminatedUnion of objects'],
  patternProperties: ['a record with arbitrary keys', RECORD_FIX],
  unevaluatedProperties: ['an object with unevaluated properties', 'use z.object with named fields'],
};

const isObject = (v: unknown): v is JsonSchema => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Turns a zod object into the JSON schema OpenAI's strict mode accepts: every property required,
 * `additionalProperties: false` everywhere, optional fields made nullable; throws `UserError` naming
 * the field when strict mode cannot express the schema.
 * @example
 * toStrictJsonSchema(z.object({ q: z.string(), limit: z.number().optional() }))
 * // { type: 'object', properties: { q: {...}, limit: { anyOf: [{ type: 'number' }, { type: 'null' }] } },
 * //   required: ['q', 'limit'], additionalProperties: false }
 */
export function toStrictJsonSchema(schema: z.ZodObject, toolName = '(unnamed)'): JsonSchema {
  let raw: JsonSchema;
  try {
    raw = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new UserError(
      `Tool "${toolName}": its parameters cannot be converted to JSON Schema (${reason}). ` +
        'Use JSON types only: string, number, boolean, enum, object, array, union, nullable, optional.',
      { cause: error },
    );
  }
  delete raw.$schema;
  const fail = (path: string, what: string, fix: string): never => {
    const where = path ? `parameter "${path}"` : 'the parameters object';
    throw new UserError(`Tool "${toolName}": ${where} is ${what}, which OpenAI strict mode cannot express; ${fix}.`);
  };
  const result = strictNode(raw, '', fail);
  if (result.type !== 'object') fail('', 'not an object schema', 'wrap the parameters in z.object({...})');
  return result;
}

type Fail = (path: string, what: string, fix: string) => never;

function strictNode(node: JsonSchema, path: string, fail: Fail): JsonSchema {
  for (const [keyword, [what, fix]] of Object.entries(UNSUPPORTED_KEYWORDS)) {
    if (keyword in node) fail(path, what, fix);
  }
  if ('prefixItems' in node) fail(path, 'a tuple (z.tuple)', 'use z.object with named fields or z.array');
  const out: JsonSchema = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === '$schema' || key === 'default') continue;
    out[key === 'oneOf' ? 'anyOf' : key] = value;
  }
  if (node.default !== undefined && node.default !== null) {
    const note = `Default: ${JSON.stringify(node.default)}.`;
    out.description = typeof node.description === 'string' ? `${node.description} ${note}` : note;
  }
  if (node.minimum === Number.MIN_SAFE_INTEGER) delete out.minimum;
  if (node.maximum === Number.MAX_SAFE_INTEGER) delete out.maximum;

  const isObjectType = node.type === 'object' || 'properties' in node;
  if (isObjectType) strictObject(node, out, path, fail);
  if (isObject(node.items)) out.items = strictNode(node.items, `${path}[]`, fail);
  else if (node.type === 'array' && node.items === undefined) {
    fail(path, 'an array without an item type', 'give it one, e.g. z.array(z.string())');
  }
  const options = node.anyOf ?? node.oneOf;
  if (Array.isArray(options)) {
    out.anyOf = options.map((option, i) =>
      isObject(option) ? strictNode(option, `${path}(option ${i + 1})`, fail) : option,
    );
  }
  if (isObject(node.$defs)) {
    const defs: JsonSchema = {};
    for (const [name, def] of Object.entries(node.$defs)) {
      defs[name] = isObject(def) ? strictNode(def, `$defs.${name}`, fail) : def;
    }
    out.$defs = defs;
  }
  const typed = ['type', 'anyOf', 'oneOf', '$ref', 'const', 'enum'].some((k) => k in node);
  if (!typed) {
    fail(
      path,
      'of no JSON type (z.any(), z.unknown(), z.date(), z.custom() and the like)',
      'use a concrete type such as z.string(), z.number(), z.object({...}) or a z.union of them',
    );
  }
  return out;
}

function strictObject(node: JsonSchema, out: JsonSchema, path: string, fail: Fail): void {
  const extra = node.additionalProperties;
  if (extra !== undefined && extra !== false) {
    if ('propertyNames' in node || !isObject(node.properties) || Object.keys(node.properties).length === 0) {
      fail(path, 'a record with arbitrary keys (z.record)', RECORD_FIX);
    }
    fail(path, 'an object that allows unknown keys (z.looseObject, .passthrough() or .catchall())', 'use z.object');
  }
  delete out.propertyNames;
  const properties = isObject(node.properties) ? node.properties : {};
  const required = new Set(Array.isArray(node.required) ? (node.required as string[]) : []);
  const strictProps: JsonSchema = {};
  for (const [key, value] of Object.entries(properties)) {
    const childPath = path ? `${path}.${key}` : key;
    if (!isObject(value)) fail(childPath, 'not a schema', 'give it a zod type');
    const child = strictNode(value as JsonSchema, childPath, fail);
    strictProps[key] = required.has(key) ? child : nullable(child);
  }
  out.type = 'object';
  out.properties = strictProps;
  out.required = Object.keys(strictProps);
  out.additionalProperties = false;
}

function acceptsNull(node: JsonSchema): boolean {
  if (node.type === 'null') return true;
  if (Array.isArray(node.type) && node.type.includes('null')) return true;
  if (Array.isArray(node.anyOf)) return node.anyOf.some((o) => isObject(o) && acceptsNull(o));
  return false;
}

function nullable(node: JsonSchema): JsonSchema {
  if (acceptsNull(node)) return node;
  const { description, ...inner } = node;
  const wrapped: JsonSchema = { anyOf: [inner, { type: 'null' }] };
  if (description !== undefined) wrapped.description = description;
  return wrapped;
}
