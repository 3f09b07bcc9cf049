import { RE2JS } from 're2js';
import { ToolError } from '../../errors.ts';

/** Longest pattern or glob accepted: the engine's time is linear in the text and in the pattern. */
export const MAX_PATTERN_CHARS = 1000;

/** A compiled search: `lineMatches` tests one line; `mayMatch` is a quick test of a whole text first. */
export interface LinePattern {
  lineMatches(line: string): boolean;
  mayMatch(text: string): boolean;
}

const UNSUPPORTED =
  'search patterns run on a linear-time engine (RE2 syntax: like JavaScript regular expressions without backreferences ' +
  'or lookaround), so that no pattern can stall the search';

/**
 * Compiles a search pattern (a literal, or a regular expression in RE2 syntax) to a matcher whose
 * time is linear in the text; refuses what the engine does not support, saying what and why.
 */
export function compileLinePattern(pattern: string, options: { regex: boolean; caseSensitive: boolean }): LinePattern {
  if (pattern.length > MAX_PATTERN_CHARS) {
    throw new ToolError(`The pattern is ${pattern.length} characters long; the limit is ${MAX_PATTERN_CHARS}. Search for a shorter pattern.`);
  }
  const source = options.regex ? fromJavaScriptEscapes(pattern) : RE2JS.quote(pattern);
  const flags = RE2JS.MULTILINE | (options.caseSensitive ? 0 : RE2JS.CASE_INSENSITIVE);
  let compiled: RE2JS;
  try {
    compiled = RE2JS.compile(source, flags);
  } catch (error) {
    throw new ToolError(describeSyntaxError(error));
  }
  // \A and \z anchor to the whole text, so a match in one line does not imply one in the whole file.
  const wholeTextAnchors = options.regex && /\\[Az]/.test(pattern);
  return {
    lineMatches: (line) => compiled.test(line),
    mayMatch: (text) => wholeTextAnchors || compiled.test(text),
  };
}

/** Turns a glob ("*.ts", "src/**\/*.test.ts", "{a,b}.md") into a linear-time test on a relative path. */
export function globMatcher(glob: string): (path: string) => boolean {
  if (glob.length > MAX_PATTERN_CHARS) throw new ToolError(`The glob is ${glob.length} characters long; the limit is ${MAX_PATTERN_CHARS}.`);
  let source = '';
  let depth = 0;
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      const slash = glob[i + 2] === '/';
      source += slash ? '(?:.*/)?' : '.*';
      i += slash ? 2 : 1;
    } else if (c === '*') source += '[^/]*';
    else if (c === '?') source += '[^/]';
    else if (c === '{') {
      depth += 1;
      source += '(?:';
    } else if (c === '}' && depth > 0) {
      depth -= 1;
      source += ')';
    } else if (c === ',' && depth > 0) source += '|';
    else source += RE2JS.quote(c);
  }
  if (depth > 0) throw new ToolError(`The glob ${JSON.stringify(glob)} has a "{" without its "}"; close it or drop it.`);
  let compiled: RE2JS;
  try {
    compiled = RE2JS.compile(source, RE2JS.DOTALL);
  } catch (error) {
    throw new ToolError(`The glob ${JSON.stringify(glob)} cannot be used (${(error as Error).message}).`);
  }
  const onName = !glob.includes('/');
  return (path) => compiled.testExact(onName ? path.slice(path.lastIndexOf('/') + 1) : path);
}

/** JavaScript's \uXXXX and \u{X...} escapes, written as RE2's \x{...}; everything else is left to RE2. */
function fromJavaScriptEscapes(pattern: string): string {
  return pattern.replace(/\\(\\|u\{([0-9a-fA-F]{1,6})\}|u([0-9a-fA-F]{4}))/g, (all, _escape, braced?: string, four?: string) =>
    braced !== undefined || four !== undefined ? `\\x{${braced ?? four}}` : all,
  );
}

function describeSyntaxError(error: unknown): string {
  const { error: kind, input } = error as { error?: string; input?: string };
  const at = input ?? '';
  if (kind === 'invalid escape sequence' && /^\\([1-9]|k)/.test(at)) {
    return `The pattern uses a backreference (${at.slice(0, 4)}), which is not supported: ${UNSUPPORTED}. Search for the text itself, or for a broader pattern.`;
  }
  if (/^\(\?(=|!)/.test(at)) {
    return `The pattern uses lookahead (${at.slice(0, 3)}), which is not supported: ${UNSUPPORTED}. Match the text directly, or search more broadly and read the hits.`;
  }
  if (/^\(\?<(=|!)/.test(at)) {
    return `The pattern uses lookbehind (${at.slice(0, 4)}), which is not supported: ${UNSUPPORTED}. Match the text directly, or search more broadly and read the hits.`;
  }
  const detail = kind ? `${kind}${at ? `: ${at.slice(0, 40)}` : ''}` : (error as Error).message;
  return `The pattern is not a valid regular expression (${detail}); ${UNSUPPORTED}. Fix it, or set regex to false to search for the literal text.`;
}
