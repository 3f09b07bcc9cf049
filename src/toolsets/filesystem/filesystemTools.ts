import { z } from 'zod';
import { ToolError, UserError } from '../../errors.ts';
import { normaliseSandboxOptions, type SandboxOptions } from '../../sandbox/sandboxOptions.ts';
import { defineTool, type Tool } from '../../tools/defineTool.ts';
import { applyEdit, listLines } from './applyEdit.ts';
import { runCommandTool } from './runCommandTool.ts';
import { compileLinePattern, globMatcher, MAX_PATTERN_CHARS } from './linearPattern.ts';
import { pacer } from './pacer.ts';
import { describeEntry, IGNORED_FOLDERS, MAX_FOLDER_ENTRIES, readTextInWalk, walkTree } from './walkTree.ts';
import { Workspace } from './Workspace.ts';
import { asRefusal } from './WorkspaceError.ts';

export interface FilesystemToolsOptions {
  /** The workspace folder; every path is confined to it (resolved with realpath once, here). */
  root: string;
  /** Adds `run_command`; false by default. */
  allowCommands?: boolean;
  /** Which tools need a human's approval; both default to true. */
  approval?: { writes?: boolean; commands?: boolean };
  /** How `run_command` is confined; `'required'` (bubblewrap) by default, `'off'` is unsafe. */
  sandbox?: SandboxOptions;
  /** Largest file read, edited or searched, in bytes; 1 MiB by default. */
  maxReadBytes?: number;
  /** Read files that have more than one hard link (writes to them are always refused). */
  allowHardLinkedReads?: boolean;
}

const DEFAULT_READ_LINES = 2000;
const MAX_LINE_CHARS = 2000;
const MAX_LIST_ENTRIES = 1000;
const MAX_SEARCH_DEPTH = 50;
const pathParam = (what: string) => z.string().describe(`${what}, relative to the workspace root.`);

/**
 * The built-in file tools (read_file, list_files, search_files, write_file, edit_file and, when allowed,
 * run_command), all confined to one workspace folder.
 * @example
 * const agent = defineAgent({ tools: filesystemTools({ root: './project', allowCommands: true }), ... });
 */
export function filesystemTools(options: FilesystemToolsOptions): Tool[] {
  if (typeof options !== 'object' || options === null) throw new UserError('filesystemTools expects an options object with a root folder.');
  const ws = new Workspace(options.root, {
    ...(options.maxReadBytes !== undefined ? { maxReadBytes: options.maxReadBytes } : {}),
    allowHardLinkedReads: options.allowHardLinkedReads ?? false,
  });
  const sandbox = normaliseSandboxOptions(options.sandbox);
  const writesNeedApproval = options.approval?.writes ?? true;
  const tools: Tool[] = [readFile(ws), listFiles(ws), searchFiles(ws), writeFile(ws, writesNeedApproval), editFile(ws, writesNeedApproval)];
  if (options.allowCommands) tools.push(runCommandTool(ws, sandbox, options.approval?.commands ?? true));
  return tools;
}

function readFile(ws: Workspace): Tool {
  return defineTool({
    name: 'read_file',
    description: `Read a text file in the workspace. Returns numbered lines ("N\\ttext"). Files over ${ws.maxReadBytes} bytes are refused.`,
    parameters: z.object({
      path: pathParam('The file'),
      offset: z.number().int().min(1).optional().describe('First line to return (1-based). Default 1.'),
      limit: z.number().int().min(1).optional().describe(`How many lines to return. Default ${DEFAULT_READ_LINES}.`),
    }),
    idempotent: true,
    scopes: ['read'],
    execute: ({ path, offset, limit }, ctx) => confined(path, async () => {
      const file = await ws.readText(path, ctx.signal);
      if (file.text.slice(0, 8192).includes('\0')) throw new ToolError(`"${file.path}" looks like a binary file (it contains NUL bytes); read_file only returns text.`);
      const lines = file.text.split('\n');
      if (lines.length > 1 && lines[lines.length - 1] === '') lines.pop();
      const first = offset ?? 1;
      if (first > lines.length && !(first === 1 && file.text === '')) {
        throw new ToolError(`offset ${first} is past the end of "${file.path}", which has ${lines.length} lines.`);
      }
      const last = Math.min(lines.length, first - 1 + (limit ?? DEFAULT_READ_LINES));
      const width = String(last).length;
      const body = lines
        .slice(first - 1, last)
        .map((line, i) => `${String(first + i).padStart(width)}\t${line.length > MAX_LINE_CHARS ? `${line.slice(0, MAX_LINE_CHARS)} [line cut]` : line}`)
        .join('\n');
      if (file.text === '') return `(${file.path} is empty)`;
      const partial = first > 1 || last < lines.length;
      return partial ? `${body}\n(lines ${first}-${last} of ${lines.length} in ${file.path}; use offset and limit to read more)` : body;
    }),
  });
}

function listFiles(ws: Workspace): Tool {
  return defineTool({
    name: 'list_files',
    description: `List a folder of the workspace: folders end in "/", symbolic links are shown but never followed. Skips ${[...IGNORED_FOLDERS].join(' and ')} unless include_ignored is true.`,
    parameters: z.object({
      path: pathParam('The folder ("." for the root)').optional(),
      recursive: z.boolean().optional().describe('Also list subfolders. Default false.'),
      max_depth: z.number().int().min(1).max(20).optional().describe('How deep to go when recursive. Default 3.'),
      include_ignored: z.boolean().optional().describe('Enter .git and node_modules too. Default false.'),
    }),
    idempotent: true,
    scopes: ['read'],
    execute: ({ path, recursive, max_depth, include_ignored }, ctx) => confined(path, async () => {
      const lines: string[] = [];
      const ignored = (name: string): boolean => !include_ignored && IGNORED_FOLDERS.has(name);
      const walked = await walkTree(
        ws,
        path ?? '.',
        { maxDepth: recursive ? (max_depth ?? 3) : 1, enter: (item) => !ignored(item.entry.name), signal: ctx.signal },
        async (item) => {
          if (lines.length >= MAX_LIST_ENTRIES) return false;
          const line = await describeEntry(item);
          lines.push(item.entry.isDirectory() && ignored(item.entry.name) ? `${line} (not listed)` : line);
          return true;
        },
      );
      const partly = walked.cut.length > 0 ? `\n(${cutNote(walked.cut)})` : '';
      if (lines.length === 0) return `(${walked.path} is empty)${partly}`;
      const more = walked.stopped ? `\n(listing stopped at ${MAX_LIST_ENTRIES} entries; list a subfolder to see more)` : '';
      return lines.join('\n') + more + partly;
    }),
  });
}

function searchFiles(ws: Workspace): Tool {
  return defineTool({
    name: 'search_files',
    description:
      'Search the text files of the workspace for a literal string or a regular expression (RE2 syntax: like JavaScript, ' +
      'without backreferences or lookaround). Returns "path:line: text" lines. Symbolic links, binary files and files over the read limit are skipped.',
    parameters: z.object({
      pattern: z.string().min(1).describe(`The text to find (or a regular expression in RE2 syntax when regex is true); at most ${MAX_PATTERN_CHARS} characters.`),
      regex: z.boolean().optional().describe('Treat pattern as a regular expression. Default false.'),
      path: pathParam('Folder to search in').optional(),
      glob: z.string().optional().describe('Only files whose path matches, e.g. "*.ts" or "src/**/*.test.ts".'),
      case_sensitive: z.boolean().optional().describe('Default true.'),
      max_results: z.number().int().min(1).max(1000).optional().describe('Default 100.'),
    }),
    idempotent: true,
    scopes: ['read'],
    execute: ({ pattern, regex, path, glob, case_sensitive, max_results }, ctx) => confined(path, async () => {
      const matcher = compileLinePattern(pattern, { regex: regex ?? false, caseSensitive: case_sensitive !== false });
      const wanted = glob ? globMatcher(glob) : () => true;
      const cap = max_results ?? 100;
      const hits: string[] = [];
      let capped = false;
      const pace = pacer(ctx.signal);
      const walked = await walkTree(ws, path ?? '.', { maxDepth: MAX_SEARCH_DEPTH, enter: (item) => !IGNORED_FOLDERS.has(item.entry.name), signal: ctx.signal }, async (item) => {
        if (pace.due(64)) await pace.turn();
        if (!item.entry.isFile() || !wanted(item.path)) return true;
        const text = await readTextInWalk(ws, item, ctx.signal);
        if (text === null) return true;
        if (pace.due(text.length)) await pace.turn();
        if (!matcher.mayMatch(text)) return true;
        const lines = text.split('\n');
        for (let i = 0; i < lines.length; i++) {
          if (pace.due(lines[i]!.length + 64)) await pace.turn();
          if (!matcher.lineMatches(lines[i]!)) continue;
          if (hits.length >= cap) {
            capped = true;
            return false;
          }
          hits.push(`${item.path}:${i + 1}: ${lines[i]!.slice(0, 300)}`);
        }
        return true;
      });
      const partly = walked.cut.length > 0 ? `\n(${cutNote(walked.cut)})` : '';
      if (hits.length === 0) return `No matches for ${JSON.stringify(pattern)}${glob ? ` in files matching ${glob}` : ''}.${partly}`;
      return hits.join('\n') + (capped ? `\n(stopped at ${cap} matches; narrow the search with path or glob)` : '') + partly;
    }),
  });
}

const cutNote = (folders: string[]): string =>
  `only the first ${MAX_FOLDER_ENTRIES} entries of ${folders.slice(0, 3).map((f) => JSON.stringify(f)).join(', ')}${folders.length > 3 ? ` and ${folders.length - 3} more folders` : ''} were read`;

function writeFile(ws: Workspace, needsApproval: boolean): Tool {
  return defineTool({
    name: 'write_file',
    description: 'Create or overwrite a text file in the workspace with the given content; missing parent folders are created.',
    parameters: z.object({ path: pathParam('The file'), content: z.string().describe('The complete new content.') }),
    needsApproval,
    idempotent: true,
    scopes: ['write'],
    execute: ({ path, content }) => confined(path, async () => {
      const written = await ws.writeText(path, content);
      return `${written.created ? 'Created' : 'Replaced'} ${written.path} (${written.bytes} bytes).`;
    }),
  });
}

function editFile(ws: Workspace, needsApproval: boolean): Tool {
  return defineTool({
    name: 'edit_file',
    description: 'Replace an exact piece of text in a workspace file. old_text must occur exactly once (include surrounding lines to make it unique) unless replace_all is true.',
    parameters: z.object({
      path: pathParam('The file'),
      old_text: z.string().describe('The exact text to replace, including whitespace.'),
      new_text: z.string().describe('The replacement text.'),
      replace_all: z.boolean().optional().describe('Replace every occurrence. Default false.'),
    }),
    needsApproval,
    onResume: 'ask',
    scopes: ['write'],
    execute: ({ path, old_text, new_text, replace_all }, ctx) => confined(path, async () => {
      const file = await ws.readText(path, ctx.signal);
      const edit = applyEdit(file.text, old_text, new_text, replace_all ?? false, file.path);
      await ws.writeText(file.path, edit.text);
      const where = edit.lines.length === 1 ? `line ${edit.lines[0]}` : `lines ${listLines(edit.lines, edit.count)}`;
      return `Edited ${file.path}: replaced ${edit.count} occurrence${edit.count === 1 ? '' : 's'} at ${where}.`;
    }),
  });
}

/** Whatever system error escapes a tool becomes a refusal naming the path the model sent, never an internal one. */
async function confined<T>(path: string | null | undefined, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw asRefusal(error, path ?? '.');
  }
}
