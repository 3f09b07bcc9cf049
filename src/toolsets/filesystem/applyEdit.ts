import { ToolError } from '../../errors.ts';

const MAX_SIMILAR = 3;

/** The text after a precise replacement, with how many places changed and at which lines (1-based). */
export interface EditOutcome {
  text: string;
  count: number;
  lines: number[];
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
  const lines = offsets.map((offset) => lineAt(text, offset));
  if (offsets.length === 0) throw new ToolError(notFound(text, oldText, file));
  if (offsets.length > 1 && !replaceAll) {
    throw new ToolError(
      `edit_file on "${file}": old_text occurs ${offsets.length} times (at lines ${lines.join(', ')}); nothing was changed. ` +
        `Include more surrounding lines in old_text to make it unique, or set replace_all to true to replace all ${offsets.length}.`,
    );
  }
  const edited = replaceAll
    ? text.split(oldText).join(newText)
    : text.slice(0, offsets[0]) + newText + text.slice(offsets[0]! + oldText.length);
  return { text: edited, count: replaceAll ? offsets.length : 1, lines: replaceAll ? lines : lines.slice(0, 1) };
}

function lineAt(text: string, offset: number): number {
  let line = 1;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) line += 1;
  return line;
}

function notFound(text: string, oldText: string, file: string): string {
  const head = `edit_file on "${file}": old_text was not found; nothing was changed.`;
  const probe = oldText.split('\n').map((l) => l.trim()).find((l) => l !== '') ?? '';
  const fileLines = text.split('\n');
  const scored = fileLines
    .map((line, i) => ({ line, n: i + 1, score: similarity(probe, line.trim()) }))
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

/** Dice coefficient over character bigrams: cheap enough for every line of a large file. */
function similarity(a: string, b: string): number {
  if (a === b) return a === '' ? 0 : 1;
  if (a.length < 2 || b.length < 2) return 0;
  const grams = new Map<string, number>();
  for (let i = 0; i < a.length - 1; i++) {
    const g = a.slice(i, i + 2);
    grams.set(g, (grams.get(g) ?? 0) + 1);
  }
  let shared = 0;
  for (let i = 0; i < b.length - 1; i++) {
    const g = b.slice(i, i + 2);
    const left = grams.get(g) ?? 0;
    if (left > 0) {
      shared += 1;
      grams.set(g, left - 1);
    }
  }
  return (2 * shared) / (a.length - 1 + b.length - 1);
}
