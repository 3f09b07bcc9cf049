import { z } from 'zod';

type JsonNode = Record<string, unknown>;

const isNode = (v: unknown): v is JsonNode => typeof v === 'object' && v !== null && !Array.isArray(v);

const SCHEMA_LISTS = ['anyOf', 'oneOf', 'allOf', 'prefixItems'] as const;
const SCHEMA_MAPS = ['properties', '$defs', 'definitions'] as const;
const SCHEMA_CHILDREN = ['items', 'not', 'if', 'then', 'else'] as const;

/**
 * Turns an MCP tool's input JSON schema into a zod object, closing objects that leave
 * `additionalProperties` open (strict mode offers the model no extra keys anyway); throws an
 * `Error` whose message says why when the schema cannot become a zod object.
 */
export function mcpInputSchema(inputSchema: unknown): z.ZodObject {
  if (!isNode(inputSchema)) throw new Error(`the input schema is not a JSON object (found ${typeof inputSchema})`);
  const closed = closeObjects(inputSchema, true) as JsonNode;
  delete closed.$schema;
  if (closed.type === undefined && closed.properties === undefined) closed.type = 'object';
  if (closed.type !== 'object') {
    throw new Error(`the input schema's type is ${JSON.stringify(closed.type)}, not "object"`);
  }
  let schema: z.ZodType;
  try {
    schema = z.fromJSONSchema(closed as Parameters<typeof z.fromJSONSchema>[0]);
  } catch (error) {
    throw new Error(`zod could not read the input schema (${error instanceof Error ? error.message : String(error)})`);
  }
  if (!(schema instanceof z.ZodObject)) {
    throw new Error('the input schema does not describe a plain object (it became a zod union, intersection or other type)');
  }
  return schema;
}

function closeObjects(node: unknown, root: boolean): unknown {
  if (Array.isArray(node)) return node.map((item) => closeObjects(item, false));
  if (!isNode(node)) return node;
  const out: JsonNode = { ...node };
  for (const key of SCHEMA_LISTS) {
    if (Array.isArray(out[key])) out[key] = (out[key] as unknown[]).map((item) => closeObjects(item, false));
  }
  for (const key of SCHEMA_MAPS) {
    const map = out[key];
    if (isNode(map)) {
      out[key] = Object.fromEntries(Object.entries(map).map(([name, child]) => [name, closeObjects(child, false)]));
    }
  }
  for (const key of SCHEMA_CHILDREN) {
    if (isNode(out[key])) out[key] = closeObjects(out[key], false);
  }
  const isObjectType = out.type === 'object' || isNode(out.properties) || (root && out.type === undefined);
  if (isObjectType) {
    const extra = out.additionalProperties;
    const open = extra === undefined || extra === true || (isNode(extra) && Object.keys(extra).length === 0);
    const hasNamedFields = isNode(out.properties) && Object.keys(out.properties).length > 0;
    if (open && (hasNamedFields || !('propertyNames' in out))) out.additionalProperties = false;
    else if (isNode(extra)) out.additionalProperties = closeObjects(extra, false);
  }
  return out;
}
