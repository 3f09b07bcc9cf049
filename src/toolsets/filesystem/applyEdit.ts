import { ToolError } from '../../errors.ts';

const MAX_SIMILAR = 3;
const MAX_LISTED_LINES = 20;
// Similar lines are scored on their first characters only: every line of a large file is compared.
const MAX_COMPARED_CHARS = 300;

/** The text after a precise replacement, with how many places changed and the first lines (1-based) they are at. */
export interface EditOutcome {
  text: string;
  count: number;
  lines: number[];
}

/** "1, 4, 9" or, past the lines listed, "1, 4, 9, … and 120 more". */
export function listLines(lines: readonly number[], count: number): string {
  return lines.join(', ') + (count > lines.length ? `, … and ${count - lines.length} more` : '');
}

/**
 * Replaces `oldText` with `newText` in `text`; throws `ToolError` when it is absent (showing the nearest
 * lines) or found more than once without `replaceAll` (saying how many times and where).
 */
export function applyEdit(text: string, oldText: string, newText: string, replaceAll: boolean, file: string): EditOutcome {
  if (oldText === '') {
    throw new ToolError(`edit_file on "${file}": old_text is empty; give the exact text to replace (use write_file to create or overwrite a file).`);
  }
  if (oldText === newText) throw new ToolError(`edit_file on "${file}": old_text and new_text are identical, so nothing would change.`);
  const offsets: number[] = [];
  for (let at = text.indexOf(oldText); at !== -1; at = text.indexOf(oldText, at + oldText.length)) offsets.push(at);
  const lines = linesOf(text, offsets.slice(0, MAX_LISTED_LINES));
  if (offsets.length === 0) throw new ToolError(notFound(text, oldText, file));
  if (offsets.length > 1 && !replaceAll) {
    throw new ToolError(
      `edit_file on "${file}": old_text occurs ${offsets.length} times (at lines ${listLines(lines, offsets.length)}); nothing was changed. ` +
        `Include more surrounding lines in old_text to make it unique, or set replace_all to true to replace all ${offsets.length}.`,
    );
  }
  const edited = replaceAll
    ? text.split(oldText).join(newText)
    : text.slice(0, offsets[0]) + newText + text.slice(offsets[0]! + oldText.length);
  return { text: edited, count: replaceAll ? offsets.length : 1, lines: replaceAll ? lines : lines.slice(0, 1) };
}

/** The line of each offset, for offsets in increasing order, in one pass over the text. */
function linesOf(text: string, offsets: readonly number[]): number[] {
  const lines: number[] = [];
  let line = 1;
  let newline = text.indexOf('\n');
  for (const offset of offsets) {
    while (newline !== -1 && newline < offset) {
      line += 1;
      newline = text.indexOf('\n', newline + 1);
    }
    lines.push(line);
  }
  return lines;
}

function notFound(text: string, oldText: string, file: string): string {
  const head = `edit_file on "${file}": old_text was not found; nothing was changed.`;
  const probe = (oldText.split('\n').map((l) => l.trim()).find((l) => l !== '') ?? '').slice(0, MAX_COMPARED_CHARS);
  const score = similarityTo(probe);
  const scored = text
    .split('\n')
    .map((line, i) => ({ line, n: i + 1, score: score(line.trim().slice(0, MAX_COMPARED_CHARS)) }))
    .filter((x) => x.score > 0.3)
    .sort((a, b) => b.score - a.score || a.n - b.n)
    .slice(0, MAX_SIMILAR);
  const hints: string[] = [];
  if (text.includes('\r\n') && !oldText.includes('\r\n') && oldText.includes('\n')) {
    hints.push('The file uses CRLF line endings; old_text uses LF.');
  }
  if (scored.length > 0) {
    hints.push(`Nearest similar lines:\n${scored.map((x) => `  ${x.n}: ${x.line.slice(0, 200)}`).join('\n')}`);
  } else {
    hints.push('No similar line was found; read the file with read_file first.');
  }
  return `${head} Copy old_text exactly (including whitespace and indentation) from the file. ${hints.join('\n')}`;
}

/** Dice coefficient over character bigrams against `a`, whose bigrams are counted once for every line. */
function similarityTo(a: string): (b: string) => number {
  const counted = new Map<string, number>();
  for (let i = 0; i < a.length - 1; i++) {
    const g = a.slice(i, i + 2);
    counted.set(g, (counted.get(g) ?? 0) + 1);
  }
  return (b) => similarity(a, b, counted);
}

function similarity(a: string, b: string, counted: ReadonlyMap<string, number>): number {
  if (a === b) return a === '' ? 0 : 1;
  if (a.length < 2 || b.length < 2) return 0;
  const used = new Map<string, number>();
  let shared = 0;
  for (let i = 0; i < b.length - 1; i++) {
    const g = b.slice(i, i + 2);
    const taken = used.get(g) ?? 0;
    if (taken < (counted.get(g) ?? 0)) {
      shared += 1;
      used.set(g, taken + 1);
    }
  }
  return (2 * shared) / (a.length - 1 + b.length - 1);
}
