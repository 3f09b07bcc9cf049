import type { JsonSchema } from './strictSchema.ts';

const MAX_DEPTH = 5;
const MAX_CHARS = 1500;

const isObject = (v: unknown): v is JsonSchema => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Renders a JSON schema as a short TypeScript-like type for messages the model reads. */
export function describeSchema(schema: JsonSchema): string {
  const text = render(schema, 0);
  return text.length > MAX_CHARS ? `${text.slice(0, MAX_CHARS)} …` : text;
}

function render(node: unknown, depth: number): string {
  if (!isObject(node)) return 'unknown';
  if ('const' in node) return JSON.stringify(node.const);
  if (Array.isArray(node.enum)) return node.enum.map((v) => JSON.stringify(v)).join(' | ');
  if (typeof node.$ref === 'string') {
    return node.$ref === '#' ? '(the whole parameters object)' : `(${node.$ref.split('/').pop()})`;
  }
  const options = node.anyOf ?? node.oneOf;
  if (Array.isArray(options)) return options.map((o) => render(o, depth)).join(' | ');
  if (Array.isArray(node.type)) return node.type.map((t) => render({ ...node, type: t }, depth)).join(' | ');
  switch (node.type) {
    case 'object': {
      if (depth >= MAX_DEPTH) return '{…}';
      const props = isObject(node.properties) ? node.properties : {};
      const required = new Set(Array.isArray(node.required) ? node.required : []);
      const fields = Object.entries(props).map(
        ([key, value]) => `${key}${required.has(key) ? '' : '?'}: ${render(value, depth + 1)}`,
      );
      return fields.length === 0 ? '{}' : `{ ${fields.join('; ')} }`;
    }
    case 'array': {
      const items = isObject(node.items) ? node.items : {};
      const union = ['anyOf', 'oneOf', 'type', 'enum'].some((k) => Array.isArray(items[k]) && (items[k] as unknown[]).length > 1);
      const item = render(node.items, depth + 1);
      return union ? `(${item})[]` : `${item}[]`;
    }
    case 'string':
    case 'number':
    case 'integer':
    case 'boolean':
    case 'null':
      return node.type;
    default:
      return 'unknown';
  }
}
