import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { z } from 'zod';
import { UserError } from '../src/errors.ts';
import { defineTool, isTool, type Tool, type ToolContext } from '../src/tools/defineTool.ts';
import { noSecrets } from '../src/credentials/Secrets.ts';

const params = z.object({ query: z.string(), limit: z.number().int().optional() });
const base = { name: 'search', description: 'Search things.', parameters: params, execute: () => 'ok' };

function refusal(definition: Record<string, unknown>): string {
  try {
    defineTool({ ...base, ...definition } as Parameters<typeof defineTool>[0]);
  } catch (error) {
    assert.instance(error, UserError);
    return (error as Error).message;
  }
  assert.unreachable('expected a UserError');
  return '';
}

test('returns a frozen tool with defaults filled in and a strict JSON schema', () => {
  const tool = defineTool(base);
  assert.ok(Object.isFrozen(tool));
  assert.ok(Object.isFrozen(tool.jsonSchema));
  assert.ok(isTool(tool));
  assert.not.ok(isTool({ ...tool }));
  assert.is(tool.needsApproval, false);
  assert.is(tool.onResume, 'fail');
  assert.is(tool.idempotent, false);
  assert.equal(tool.retries, { max: 0, backoffMs: 250 });
  assert.equal(tool.scopes, []);
  assert.equal(tool.jsonSchema.required, ['query', 'limit']);
  assert.is(tool.jsonSchema.additionalProperties, false);
  assert.throws(() => {
    (tool as { name: string }).name = 'other';
  });
});

test('an idempotent tool reruns on resume by default; an explicit onResume wins', () => {
  assert.is(defineTool({ ...base, idempotent: true }).onResume, 'rerun');
  assert.is(defineTool({ ...base, idempotent: true, onResume: 'ask' }).onResume, 'ask');
  assert.is(defineTool({ ...base, onResume: 'ask' }).onResume, 'ask');
});

test('retries are normalised from a number or an object', () => {
  assert.equal(defineTool({ ...base, retries: 3 }).retries, { max: 3, backoffMs: 250 });
  assert.equal(defineTool({ ...base, retries: { max: 2, backoffMs: 10 } }).retries, { max: 2, backoffMs: 10 });
  assert.equal(defineTool({ ...base, retries: 0 }).retries.max, 0);
});

test('names must follow OpenAI rule, and the message suggests a valid one', () => {
  const message = refusal({ name: 'web search' });
  assert.match(message, '"web search"');
  assert.match(message, 'a-z, A-Z, 0-9');
  assert.match(message, '"web_search"');
  refusal({ name: '' });
  refusal({ name: 'x'.repeat(65) });
  refusal({ name: 42 });
  assert.is(defineTool({ ...base, name: 'a-B_9'.padEnd(64, 'z') }).name.length, 64);
});

test('description, parameters and execute are checked', () => {
  assert.match(refusal({ description: '   ' }), 'description');
  assert.match(refusal({ parameters: z.string() }), 'z.object({})');
  assert.match(refusal({ parameters: { query: 'string' } }), 'zod object');
  assert.match(refusal({ execute: 'nope' }), 'execute must be a function');
});

test('limits must be positive and well formed', () => {
  assert.match(refusal({ timeoutMs: 0 }), 'timeoutMs');
  assert.match(refusal({ timeoutMs: Number.NaN }), 'timeoutMs');
  assert.match(refusal({ retries: -1 }), 'retries');
  assert.match(refusal({ retries: 1.5 }), 'retries');
  assert.match(refusal({ retries: { max: -2 } }), 'retries');
  assert.match(refusal({ retries: { max: 1, backoffMs: -5 } }), 'backoffMs');
  assert.match(refusal({ maxOutputChars: 0 }), 'maxOutputChars');
  assert.match(refusal({ onResume: 'retry' }), 'onResume');
  assert.match(refusal({ scopes: ['ok', ''] }), 'scopes');
});

test('a schema strict mode cannot express is refused at definition time', () => {
  const message = refusal({ parameters: z.object({ headers: z.record(z.string(), z.string()) }) });
  assert.match(message, 'Tool "search"');
  assert.match(message, '"headers"');
});

test('execute receives arguments typed from the schema', async () => {
  const seen: string[] = [];
  const tool = defineTool({
    ...base,
    execute(args, ctx: ToolContext) {
      const query: string = args.query;
      const limit: number | undefined = args.limit;
      // @ts-expect-error: no such parameter
      void args.nope;
      // @ts-expect-error: query is a string, not a number
      const wrong: number = args.query;
      void wrong;
      seen.push(`${query}:${limit ?? 'none'}:${ctx.toolName}`);
      return seen.length;
    },
  });
  const asGeneric: Tool = tool;
  const ctx = { signal: new AbortController().signal, runId: 'r', callId: 'c', idempotencyKey: 'k', attempt: 1, toolName: 't', secrets: noSecrets };
  assert.is(await asGeneric.execute({ query: 'q' }, ctx), 1);
  assert.equal(seen, ['q:none:t']);
});

test.run();
