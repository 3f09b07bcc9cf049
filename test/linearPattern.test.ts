import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ToolError } from '../src/errors.ts';
import { compileLinePattern, globMatcher, MAX_PATTERN_CHARS } from '../src/toolsets/filesystem/linearPattern.ts';

const regex = (pattern: string, caseSensitive = true) => compileLinePattern(pattern, { regex: true, caseSensitive });

function refusal(pattern: string): string {
  try {
    regex(pattern);
  } catch (error) {
    assert.instance(error, ToolError);
    return (error as Error).message;
  }
  assert.unreachable(`expected ${pattern} to be refused`);
  return '';
}

test('backreferences and lookaround are refused, saying what is not supported and why', () => {
  for (const [pattern, what] of [
    ['(a)\\1', 'backreference'],
    ['(?<n>a)\\k<n>', 'backreference'],
    ['a(?=b)', 'lookahead'],
    ['a(?!b)', 'lookahead'],
    ['(?<=a)b', 'lookbehind'],
    ['(?<!a)b', 'lookbehind'],
  ]) {
    const message = refusal(pattern!);
    assert.match(message, what!, pattern);
    assert.match(message, 'not supported', pattern);
    assert.match(message, 'linear-time engine', pattern);
  }
  assert.match(refusal('('), 'not a valid regular expression');
  assert.match(refusal('a'.repeat(MAX_PATTERN_CHARS + 1)), `the limit is ${MAX_PATTERN_CHARS}`);
});

test('the usual JavaScript syntax matches as it would in JavaScript', () => {
  const cases: [string, string, boolean][] = [
    ['\\bconst [ac] = \\d+;', 'export const a = 12;', true],
    ['^\\s*//', '  // comment', true],
    ['(?<name>fo+)bar', 'xfooobar', true],
    ['\\u0041BC', 'ABC', true],
    ['\\u{1F600}', 'smile 😀', true],
    ['colou?r$', 'the colour', true],
    ['colou?r$', 'colours', false],
    ['a.c', 'a\nc', false],
  ];
  for (const [pattern, line, expected] of cases) assert.is(regex(pattern).lineMatches(line), expected, `${pattern} on ${JSON.stringify(line)}`);
  assert.is(regex('HELLO', false).lineMatches('say hello'), true);
  assert.is(compileLinePattern('a.b(', { regex: false, caseSensitive: true }).lineMatches('x a.b( y'), true);
  assert.is(compileLinePattern('a.b(', { regex: false, caseSensitive: true }).lineMatches('axb('), false);
});

test('the whole-text test never misses a line that matches', () => {
  const text = 'first\n  second line\nthird';
  for (const pattern of ['^second', '^  second line$', 'd$', '\\Athird', 'line\\z']) {
    const compiled = regex(pattern);
    const anyLine = text.split('\n').some((line) => compiled.lineMatches(line));
    if (anyLine) assert.ok(compiled.mayMatch(text), pattern);
  }
});

test('globs match names, paths and alternatives', () => {
  assert.ok(globMatcher('*.ts')('src/deep/a.ts'));
  assert.not.ok(globMatcher('*.ts')('src/a.tsx'));
  assert.ok(globMatcher('src/**/*.test.ts')('src/a/b/c.test.ts'));
  assert.ok(globMatcher('src/**/*.test.ts')('src/c.test.ts'));
  assert.not.ok(globMatcher('src/*.ts')('src/a/b.ts'));
  assert.ok(globMatcher('{README,CHANGES}.md')('docs/CHANGES.md'));
  assert.ok(globMatcher('file?.(1)+[x]')('file1.(1)+[x]'));
  assert.throws(() => globMatcher('{a,b'), /without its "}"/);
});

test.run();
