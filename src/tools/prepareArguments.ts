import { z } from 'zod';

/**
 * Tool arguments are checked without zod's compiled fast path: compiling an object schema costs about
 * 0.5 to 1 ms the first time it is used in a process (a resumed run's first call pays it), and saves
 * under a microsecond per call after that.
 */
export const ARGUMENT_PARSING = { jitless: true } as const;

/** A key the model sent that the schema does not know. */
export interface UnknownKey {
  path: (string | number)[];
  key: string;
  allowed: string[];
}

interface Def {
  type: string;
  innerType?: z.core.$ZodType;
  in?: z.core.$ZodType;
  getter?: () => z.core.$ZodType;
  element?: z.core.$ZodType;
  options?: readonly z.core.$ZodType[];
  shape?: Record<string, z.core.$ZodType>;
  catchall?: z.core.$ZodType;
  left?: z.core.$ZodType;
  right?: z.core.$ZodType;
}

const WRAPPERS = new Set(['optional', 'nullable', 'default', 'prefault', 'readonly', 'catch', 'nonoptional']);

const defOf = (schema: z.core.$ZodType): Def => schema._zod.def as unknown as Def;

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Undoes the strict-mode encoding of optional fields (null for "absent") so the user's zod schema
 * parses the model's arguments, and lists keys the schema does not know; never throws on model input.
 */
export function prepareArguments(
  schema: z.core.$ZodType,
  value: unknown,
): { value: unknown; unknownKeys: UnknownKey[] } {
  const unknownKeys: UnknownKey[] = [];
  return { value: walk(schema, value, [], unknownKeys), unknownKeys };
}

function walk(schema: z.core.$ZodType, value: unknown, path: (string | number)[], unknown: UnknownKey[]): unknown {
  const def = defOf(schema);
  if (WRAPPERS.has(def.type) && def.innerType) return walk(def.innerType, value, path, unknown);
  if (def.type === 'pipe' && def.in) return walk(def.in, value, path, unknown);
  if (def.type === 'lazy' && def.getter) return walk(def.getter(), value, path, unknown);
  if (def.type === 'array' && def.element && Array.isArray(value)) {
    const element = def.element;
    return value.map((item, i) => walk(element, item, [...path, i], unknown));
  }
  if (def.type === 'union' && def.options) return walkUnion(def.options, value, path, unknown);
  const shape = shapeOf(schema);
  if (shape && isPlainObject(value)) {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      const field = shape.fields[key];
      if (!field) {
        if (shape.closed) unknown.push({ path, key, allowed: Object.keys(shape.fields) });
        out[key] = item;
        continue;
      }
      if (item === null && field._zod.optin !== undefined && !acceptsNull(field)) continue;
      out[key] = walk(field, item, [...path, key], unknown);
    }
    return out;
  }
  return value;
}

function walkUnion(
  options: readonly z.core.$ZodType[],
  value: unknown,
  path: (string | number)[],
  unknown: UnknownKey[],
): unknown {
  for (const option of options) {
    const local: UnknownKey[] = [];
    const prepared = walk(option, value, path, local);
    if (local.length === 0 && z.safeParse(option, prepared, ARGUMENT_PARSING).success) return prepared;
  }
  return value;
}

function shapeOf(schema: z.core.$ZodType): { fields: Record<string, z.core.$ZodType>; closed: boolean } | undefined {
  const def = defOf(schema);
  if (def.type === 'object' && def.shape) {
    const catchall = def.catchall ? defOf(def.catchall).type : undefined;
    return { fields: def.shape, closed: catchall === undefined || catchall === 'never' };
  }
  if (def.type === 'intersection' && def.left && def.right) {
    const left = shapeOf(def.left);
    const right = shapeOf(def.right);
    if (!left || !right) return undefined;
    return { fields: { ...left.fields, ...right.fields }, closed: left.closed && right.closed };
  }
  if ((WRAPPERS.has(def.type) && def.innerType) || def.type === 'lazy' || def.type === 'pipe') {
    const inner = def.innerType ?? def.in ?? def.getter?.();
    return inner ? shapeOf(inner) : undefined;
  }
  return undefined;
}

function acceptsNull(schema: z.core.$ZodType): boolean {
  const def = defOf(schema);
  if (def.type === 'null' || def.type === 'any' || def.type === 'unknown' || def.type === 'nullable') return true;
  if (WRAPPERS.has(def.type) && def.innerType) return acceptsNull(def.innerType);
  if (def.type === 'pipe' && def.in) return acceptsNull(def.in);
  if (def.type === 'lazy' && def.getter) return acceptsNull(def.getter());
  if (def.type === 'union' && def.options) return def.options.some(acceptsNull);
  return false;
}
