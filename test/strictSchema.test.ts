import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { z } from 'zod';
import { UserError } from '../src/errors.ts';
import { prepareArguments } from '../src/tools/prepareArguments.ts';
import { toStrictJsonSchema, type JsonSchema } from '../src/tools/strictSchema.ts';

function objectNodes(node: unknown, out: JsonSchema[] = []): JsonSchema[] {
  if (Array.isArray(node)) node.forEach((child) => objectNodes(child, out));
  else if (typeof node === 'object' && node !== null) {
    const schema = node as JsonSchema;
    if (schema.type === 'object') out.push(schema);
    Object.values(schema).forEach((child) => objectNodes(child, out));
  }
  return out;
}

function assertStrict(schema: JsonSchema): void {
  const nodes = objectNodes(schema);
  assert.ok(nodes.length > 0);
  for (const node of nodes) {
    assert.is(node.additionalProperties, false, `additionalProperties on ${JSON.stringify(node).slice(0, 80)}`);
    assert.equal(node.required, Object.keys(node.properties as object));
  }
}

function refusal(parameters: z.ZodObject): string {
  try {
    toStrictJsonSchema(parameters, 'probe');
  } catch (error) {
    assert.instance(error, UserError);
    return (error as Error).message;
  }
  assert.unreachable('expected a UserError');
  return '';
}

const Nested = z.object({
  query: z.string(),
  filter: z.object({
    tags: z.array(z.object({ name: z.string(), weight: z.number().optional() })),
    kind: z.discriminatedUnion('k', [
      z.object({ k: z.literal('a'), a: z.string() }),
      z.object({ k: z.literal('b'), deep: z.object({ x: z.boolean() }) }),
    ]),
  }),
  either: z.union([z.string(), z.object({ id: z.number() })]),
});

test('every object, nested, in arrays and in unions, is closed and lists all properties as required', () => {
  const schema = toStrictJsonSchema(Nested);
  assertStrict(schema);
  assert.is(objectNodes(schema).length, 7);
  assert.not.ok(JSON.stringify(schema).includes('oneOf'));
});

test('$schema is stripped and safe-integer bounds are dropped', () => {
  const schema = toStrictJsonSchema(z.object({ n: z.number().int(), m: z.number().int().min(2) }));
  assert.not.ok('$schema' in schema);
  const props = schema.properties as Record<string, JsonSchema>;
  assert.equal(props.n, { type: 'integer' });
  assert.equal(props.m, { type: 'integer', minimum: 2 });
});

test('optional fields become required and nullable; already nullable ones are left alone', () => {
  const schema = toStrictJsonSchema(
    z.object({
      a: z.string().describe('the a'),
      b: z.number().optional().describe('the b'),
      c: z.string().nullable().optional(),
      d: z.enum(['x', 'y']).default('x'),
    }),
  );
  assert.equal(schema.required, ['a', 'b', 'c', 'd']);
  const props = schema.properties as Record<string, JsonSchema>;
  assert.equal(props.b, { anyOf: [{ type: 'number' }, { type: 'null' }], description: 'the b' });
  assert.equal(props.c, { type: ['string', 'null'] });
  assert.equal(props.d?.anyOf, [{ type: 'string', enum: ['x', 'y'] }, { type: 'null' }]);
  assert.match(String(props.d?.description), 'Default: "x"');
});

test('recursive schemas keep their $defs and close them too', () => {
  type Node = { label: string; children: Node[] };
  const TreeNode: z.ZodType<Node> = z.lazy(() => z.object({ label: z.string(), children: z.array(TreeNode) }));
  const schema = toStrictJsonSchema(z.object({ root: TreeNode }));
  assert.ok(schema.$defs);
  assertStrict(schema);
});

test('records with arbitrary keys are refused, naming the field and the replacement', () => {
  const message = refusal(z.object({ opts: z.object({ env: z.record(z.string(), z.string()) }) }));
  assert.match(message, 'Tool "probe"');
  assert.match(message, 'parameter "opts.env"');
  assert.match(message, 'record');
  assert.match(message, 'z.array(z.object({ key: z.string()');
});

test('loose objects, tuples, dates and untyped fields are refused with a fix', () => {
  assert.match(refusal(z.looseObject({ a: z.string() })), 'use z.object');
  assert.match(refusal(z.object({ pair: z.tuple([z.string(), z.number()]) })), 'parameter "pair" is a tuple');
  assert.match(refusal(z.object({ when: z.object({ at: z.date() }) })), 'parameter "when.at"');
  assert.match(refusal(z.object({ list: z.array(z.any()) })), 'parameter "list[]"');
  assert.match(refusal(z.object({ x: z.unknown() })), 'concrete type');
});

const Optionals = z.object({
  query: z.string(),
  limit: z.number().int().optional(),
  mode: z.enum(['fast', 'full']).default('fast'),
  note: z.string().nullable().optional(),
  inner: z.object({ tag: z.string().optional() }).optional(),
  items: z.array(z.object({ w: z.number().optional() })),
});

test('null for an optional field round-trips to an absent key, so the zod schema parses', () => {
  const fromModel = { query: 'q', limit: null, mode: null, note: null, inner: { tag: null }, items: [{ w: null }, { w: 2 }] };
  assert.not.ok(Optionals.safeParse(fromModel).success);
  const prepared = prepareArguments(Optionals, fromModel);
  assert.equal(prepared.unknownKeys, []);
  const parsed = Optionals.parse(prepared.value);
  assert.equal(parsed, { query: 'q', mode: 'fast', note: null, inner: {}, items: [{}, { w: 2 }] });
  assert.not.ok('limit' in parsed);
  assert.equal(fromModel.limit, null, 'the input is not mutated');
});

test('values for optional fields are kept and nulls for required fields still fail', () => {
  const prepared = prepareArguments(Optionals, { query: null, limit: 3, mode: 'full', items: [] });
  const result = Optionals.safeParse(prepared.value);
  assert.not.ok(result.success);
  assert.equal(result.error?.issues.map((i) => i.path), [['query']]);
  const ok = Optionals.parse(prepareArguments(Optionals, { query: 'q', limit: 3, mode: 'full', items: [] }).value);
  assert.equal(ok, { query: 'q', limit: 3, mode: 'full', items: [] });
});

test('unknown keys are reported with their path and the allowed keys', () => {
  const prepared = prepareArguments(Optionals, { query: 'q', items: [{ w: 1, size: 2 }], extra: true });
  assert.equal(
    prepared.unknownKeys.map((u) => [u.path, u.key]),
    [
      [['items', 0], 'size'],
      [[], 'extra'],
    ],
  );
  assert.equal(prepared.unknownKeys[1]?.allowed, ['query', 'limit', 'mode', 'note', 'inner', 'items']);
});

test('nulls inside union options are dropped for the option that then parses', () => {
  const schema = z.object({
    target: z.union([z.object({ url: z.string(), depth: z.number().optional() }), z.object({ path: z.string() })]),
  });
  const prepared = prepareArguments(schema, { target: { url: 'u', depth: null } });
  assert.equal(schema.parse(prepared.value), { target: { url: 'u' } });
});

test.run();
