import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { z } from 'zod';
import { UserError } from '../src/errors.ts';
import type { ToolCall } from '../src/protocol/messages.ts';
import { defineTool, type Tool } from '../src/tools/defineTool.ts';
import { createToolbox, type ValidatedCall } from '../src/tools/toolbox.ts';

const search = defineTool({
  name: 'search',
  description: 'Search the docs.',
  parameters: z.object({
    query: z.string(),
    limit: z.number().int().min(1).optional(),
    filter: z.object({ tags: z.array(z.string()) }).optional(),
  }),
  execute: () => 'results',
});
const fetchPage = defineTool({
  name: 'fetch_page',
  description: 'Fetch a page.',
  parameters: z.strictObject({ url: z.string() }),
  execute: () => 'page',
});
const listFiles = defineTool({
  name: 'list_files',
  description: 'List files.',
  parameters: z.object({ dir: z.string().optional() }),
  execute: () => [],
});
const toolbox = createToolbox([search, fetchPage, listFiles]);

const call = (args: string, name = 'search', id = 'call_1'): ToolCall => ({ id, name, arguments: args });

function rejected(result: ValidatedCall, reason: string): string {
  if (result.ok) return assert.unreachable(`expected ${reason}, got ok`) as never;
  assert.is(result.reason, reason);
  return result.message;
}

test('duplicate names are refused at creation, naming the duplicate', () => {
  const twin = defineTool({ ...search, description: 'Another search.' });
  try {
    createToolbox([search, fetchPage, twin]);
    assert.unreachable('expected a UserError');
  } catch (error) {
    assert.instance(error, UserError);
    assert.match((error as Error).message, '"search"');
    assert.match((error as Error).message, 'tools[0] and tools[2]');
  }
});

test('objects not made by defineTool are refused', () => {
  assert.throws(() => createToolbox([{ ...search } as Tool]), (e: Error) => e instanceof UserError && /tools\[0\]/.test(e.message));
});

test('specs are computed once and carry the strict schemas', () => {
  const specs = toolbox.specs();
  assert.is(toolbox.specs(), specs);
  assert.equal(
    specs.map((s) => s.name),
    ['search', 'fetch_page', 'list_files'],
  );
  assert.is(specs[0]?.parameters, search.jsonSchema);
  assert.equal(specs[0]?.parameters.required, ['query', 'limit', 'filter']);
  assert.ok(Object.isFrozen(specs[0]));
});

test('get finds tools by exact name', () => {
  assert.is(toolbox.get('fetch_page'), fetchPage);
  assert.is(toolbox.get('Fetch_page'), undefined);
});

test('a valid call yields the tool and parsed arguments, with strict-mode nulls removed', () => {
  const result = toolbox.validateCall(call('{"query":"zod","limit":null,"filter":{"tags":["a"]}}'));
  assert.ok(result.ok);
  if (!result.ok) return;
  assert.is(result.tool, search);
  assert.equal(result.args, { query: 'zod', filter: { tags: ['a'] } });
});

test('an unknown tool gets the list of available names, nearest first', () => {
  const message = rejected(toolbox.validateCall(call('{}', 'fetchpage')), 'unknown_tool');
  assert.match(message, '"fetchpage"');
  assert.match(message, 'Did you mean "fetch_page"?');
  assert.match(message, 'Available tools: fetch_page, ');
  assert.match(message, 'search');
  assert.match(message, 'list_files');
  const far = rejected(toolbox.validateCall(call('{}', 'weather')), 'unknown_tool');
  assert.not.match(far, 'Did you mean');
});

test('malformed JSON is reported with the parse error and the expected shape', () => {
  const message = rejected(toolbox.validateCall(call('{"query": "zod"')), 'invalid_json');
  assert.match(message, 'could not be parsed as JSON (');
  assert.match(message, 'must be a JSON object');
  assert.match(message, '{ query: string; limit: integer | null; filter: { tags: string[] } | null }');
});

test('empty or non-object arguments are refused, never coerced to {}', () => {
  assert.match(rejected(toolbox.validateCall(call('', 'list_files')), 'invalid_json'), 'arguments were empty');
  assert.match(rejected(toolbox.validateCall(call('[1,2]')), 'invalid_json'), 'were an array');
  assert.match(rejected(toolbox.validateCall(call('null')), 'invalid_json'), 'were null');
  assert.match(rejected(toolbox.validateCall(call('"q"')), 'invalid_json'), 'were a string');
  const empty = toolbox.validateCall(call('{}', 'list_files'));
  assert.ok(empty.ok);
});

test('schema errors list each issue with its path and the expected arguments', () => {
  const message = rejected(
    toolbox.validateCall(call('{"limit":"3","filter":{"tags":[1]},"sort":"asc"}')),
    'invalid_arguments',
  );
  assert.match(message, 'tool "search" (call call_1)');
  assert.match(message, '- at query: Invalid input: expected string');
  assert.match(message, '- at limit: Invalid input: expected number, received string');
  assert.match(message, '- at filter.tags[0]: Invalid input: expected string, received number');
  assert.match(message, '- at (root): unknown key "sort"; allowed keys: query, limit, filter');
  assert.match(message, 'Expected arguments: { query: string;');
});

test('unknown keys alone make the call invalid', () => {
  const message = rejected(toolbox.validateCall(call('{"url":"u","verbose":true}', 'fetch_page')), 'invalid_arguments');
  assert.match(message, 'unknown key "verbose"');
});

test('a call without an id is refused', () => {
  assert.match(rejected(toolbox.validateCall(call('{}', 'list_files', '')), 'missing_id'), 'needs a non-empty, unique id');
  rejected(toolbox.validateCall(call('{}', 'list_files', '  ')), 'missing_id');
  rejected(toolbox.validateCall({ name: 'list_files', arguments: '{}' } as unknown as ToolCall), 'missing_id');
});

test('garbage input never throws', () => {
  const inputs = [null, 42, {}, { id: 1 }, { id: 'x', name: 3 }, { id: 'x', name: 'search', arguments: 7 }];
  for (const input of inputs) {
    const result = toolbox.validateCall(input as unknown as ToolCall);
    assert.is(result.ok, false);
  }
});

test.run();
