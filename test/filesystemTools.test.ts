import { execFileSync } from 'node:child_process';
import { existsSync, linkSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { probeSandbox } from '../src/sandbox/probeSandbox.ts';
import { filesystemTools, type FilesystemToolsOptions } from '../src/toolsets/filesystem/filesystemTools.ts';
import type { Tool } from '../src/tools/defineTool.ts';
import { runTool, type ToolResult } from '../src/tools/runTool.ts';
import { createToolbox } from '../src/tools/toolbox.ts';
import { noSecrets } from '../src/credentials/Secrets.ts';

const base = realpathSync(mkdtempSync(join(tmpdir(), 'statecraft-fst-')));
const root = join(base, 'ws');
const outside = join(base, 'outside');
const secret = 'TOP SECRET outside';
mkdirSync(join(root, 'src', 'deep'), { recursive: true });
mkdirSync(join(root, 'node_modules', 'pkg'), { recursive: true });
mkdirSync(outside);
mkdirSync(join(base, 'ws-evil'));
writeFileSync(join(outside, 'secret.txt'), `${secret}\n`);
writeFileSync(join(base, 'ws-evil', 'x.txt'), secret);
writeFileSync(join(root, 'src', 'a.ts'), 'export const a = 1;\nexport const b = 2;\nexport const c = 1;\n');
writeFileSync(join(root, 'src', 'deep', 'b.md'), '# title\nneedle here\n');
writeFileSync(join(root, 'node_modules', 'pkg', 'index.js'), 'needle in dependency\n');
writeFileSync(join(root, 'lines.txt'), Array.from({ length: 10 }, (_, i) => `line ${i + 1}`).join('\n') + '\n');
symlinkSync(outside, join(root, 'out-dir'));
symlinkSync('/etc', join(root, 'link-etc'));
symlinkSync('c2', join(root, 'c1'));
symlinkSync(join(outside, 'secret.txt'), join(root, 'c2'));
symlinkSync('/dev/zero', join(root, 'zero'));
linkSync(join(outside, 'secret.txt'), join(root, 'hard'));
execFileSync('mkfifo', [join(root, 'fifo')]);

const probe = await probeSandbox();

function toolsFor(options: Partial<FilesystemToolsOptions> = {}): Map<string, Tool> {
  return new Map(filesystemTools({ root, ...options }).map((t) => [t.name, t]));
}

async function call(tool: Tool, args: Record<string, unknown>): Promise<ToolResult> {
  const checked = createToolbox([tool]).validateCall({ id: 'call_1', name: tool.name, arguments: JSON.stringify(args) });
  if (!checked.ok) throw new Error(checked.message);
  return runTool(tool, checked.args, { ctx: { runId: 'run_1', callId: 'call_1', idempotencyKey: 'run_1:call_1', toolName: tool.name, secrets: noSecrets } });
}

const tools = toolsFor();
const use = (name: string, args: Record<string, unknown>) => call(tools.get(name)!, args);

test('returns the file tools; run_command only when allowed; writes and commands need approval by default', () => {
  assert.equal([...tools.keys()], ['read_file', 'list_files', 'search_files', 'write_file', 'edit_file']);
  assert.is(tools.get('read_file')!.needsApproval, false);
  assert.is(tools.get('write_file')!.needsApproval, true);
  assert.is(tools.get('edit_file')!.needsApproval, true);
  const withCommands = toolsFor({ allowCommands: true });
  assert.is(withCommands.get('run_command')!.needsApproval, true);
  const relaxed = toolsFor({ allowCommands: true, approval: { writes: false, commands: false } });
  assert.is(relaxed.get('write_file')!.needsApproval, false);
  assert.is(relaxed.get('run_command')!.needsApproval, false);
  assert.throws(() => filesystemTools({ root, sandbox: 'maybe' as 'off' }), /'required' or 'off'/);
  assert.throws(() => filesystemTools({ root: join(base, 'missing') }), /cannot be resolved/);
});

test('read_file returns numbered lines and honours offset and limit', async () => {
  const all = await use('read_file', { path: 'src/a.ts', offset: null, limit: null });
  assert.is(all.isError, false);
  assert.is(all.content, '1\texport const a = 1;\n2\texport const b = 2;\n3\texport const c = 1;');
  const part = await use('read_file', { path: 'lines.txt', offset: 9, limit: 1 });
  assert.is(part.content.split('\n')[0], '9\tline 9');
  assert.match(part.content, 'lines 9-9 of 10');
});

const readCorpus: [string, string][] = [
  ['../x', 'outside the workspace root'],
  ['src/../../x', 'outside the workspace root'],
  ['/etc/passwd', 'absolute path outside'],
  [join(base, 'ws-evil', 'x.txt'), 'absolute path outside'],
  ['link-etc', 'symbolic link to "/etc"'],
  ['out-dir/secret.txt', 'outside the workspace root'],
  ['c1', 'outside the workspace root'],
  ['hard', 'hard links'],
  ['fifo', 'FIFO'],
  ['zero', '/dev/zero'],
  ['a\0b', 'NUL byte'],
  ['', 'empty'],
];

test('read_file refuses escapes with a message the model can read', async () => {
  for (const [path, text] of readCorpus) {
    const result = await use('read_file', { path, offset: null, limit: null });
    assert.is(result.isError, true, path);
    assert.match(result.content, 'Refused path');
    assert.match(result.content, text);
    assert.not.match(result.content, secret);
  }
});

test('write_file refuses the same escapes and changes nothing outside', async () => {
  for (const [path] of readCorpus) {
    const result = await use('write_file', { path, content: 'pwned' });
    assert.is(result.isError, true, path);
    assert.match(result.content, 'Refused path');
  }
  assert.is(readFileSync(join(outside, 'secret.txt'), 'utf8'), `${secret}\n`);
  assert.is(readFileSync(join(base, 'ws-evil', 'x.txt'), 'utf8'), secret);
  const ok = await use('write_file', { path: 'notes/new.md', content: 'hello' });
  assert.is(ok.content, 'Created notes/new.md (5 bytes).');
  assert.is(readFileSync(join(root, 'notes/new.md'), 'utf8'), 'hello');
});

test('list_files lists without following links and skips node_modules', async () => {
  const flat = await use('list_files', { path: null, recursive: null, max_depth: null, include_ignored: null });
  assert.match(flat.content, 'src/');
  assert.match(flat.content, `out-dir -> ${outside} (symbolic link, not followed)`);
  assert.match(flat.content, 'fifo (FIFO, not readable)');
  assert.not.match(flat.content, 'src/a.ts');
  const deep = await use('list_files', { path: '.', recursive: true, max_depth: 5, include_ignored: false });
  assert.match(deep.content, 'src/deep/b.md');
  assert.match(deep.content, 'node_modules/ (not listed)');
  assert.not.match(deep.content, 'pkg');
  assert.not.match(deep.content, 'out-dir/');
  const escape = await use('list_files', { path: 'out-dir', recursive: null, max_depth: null, include_ignored: null });
  assert.is(escape.isError, true);
});

test('search_files finds literal and regex matches, filters by glob, never through links', async () => {
  const literal = await use('search_files', { pattern: 'needle', regex: null, path: null, glob: null, case_sensitive: null, max_results: null });
  assert.is(literal.content, 'src/deep/b.md:2: needle here');
  const regex = await use('search_files', { pattern: 'const [ac] = 1', regex: true, path: 'src', glob: '*.ts', case_sensitive: null, max_results: null });
  assert.is(regex.content, 'src/a.ts:1: export const a = 1;\nsrc/a.ts:3: export const c = 1;');
  const capped = await use('search_files', { pattern: 'line', regex: null, path: null, glob: '**/*.txt', case_sensitive: null, max_results: 3 });
  assert.match(capped.content, 'stopped at 3 matches');
  const none = await use('search_files', { pattern: 'TOP SECRET', regex: null, path: null, glob: null, case_sensitive: false, max_results: null });
  assert.match(none.content, 'No matches');
  const bad = await use('search_files', { pattern: '(', regex: true, path: null, glob: null, case_sensitive: null, max_results: null });
  assert.is(bad.isError, true);
  assert.match(bad.content, 'not a valid regular expression');
  const backreference = await use('search_files', { pattern: '(needle) \\1', regex: true, path: null, glob: null, case_sensitive: null, max_results: null });
  assert.is(backreference.isError, true);
  assert.match(backreference.content, 'backreference');
  assert.match(backreference.content, 'not supported');
});

test('edit_file applies a unique match and refuses missing or ambiguous ones', async () => {
  const edit = (old_text: string, new_text: string, replace_all: boolean | null) =>
    use('edit_file', { path: 'src/a.ts', old_text, new_text, replace_all });
  const applied = await edit('const b = 2', 'const b = 3', null);
  assert.is(applied.content, 'Edited src/a.ts: replaced 1 occurrence at line 2.');
  assert.match(readFileSync(join(root, 'src/a.ts'), 'utf8'), 'const b = 3;');
  const missing = await edit('export const bb = 3;', 'x', null);
  assert.is(missing.isError, true);
  assert.match(missing.content, 'old_text was not found');
  assert.match(missing.content, '2: export const b = 3;');
  const ambiguous = await edit(' = 1;', ' = 9;', null);
  assert.is(ambiguous.isError, true);
  assert.match(ambiguous.content, 'occurs 2 times (at lines 1, 3)');
  assert.match(readFileSync(join(root, 'src/a.ts'), 'utf8'), 'const a = 1;');
  const all = await edit(' = 1;', ' = 9;', true);
  assert.is(all.content, 'Edited src/a.ts: replaced 2 occurrences at lines 1, 3.');
  assert.is(readFileSync(join(root, 'src/a.ts'), 'utf8'), 'export const a = 9;\nexport const b = 3;\nexport const c = 9;\n');
  const escape = await use('edit_file', { path: 'c1', old_text: 'TOP', new_text: 'x', replace_all: null });
  assert.is(escape.isError, true);
  assert.is(readFileSync(join(outside, 'secret.txt'), 'utf8'), `${secret}\n`);
});

test('run_command refuses when the required sandbox cannot start, naming the opt-out', async () => {
  const tool = toolsFor({ allowCommands: true, sandbox: { bwrapPath: join(base, 'no-bwrap') } }).get('run_command')!;
  const result = await call(tool, { command: 'touch ran.txt', cwd: null, timeout_ms: null });
  assert.is(result.isError, true);
  assert.match(result.content, 'could not start');
  assert.match(result.content, "sandbox: 'off'");
  assert.not.ok(existsSync(join(root, 'ran.txt')));
});

if (probe.available) {
  test('run_command runs in the sandbox, in a folder of the workspace', async () => {
    const tool = toolsFor({ allowCommands: true }).get('run_command')!;
    const result = await call(tool, { command: 'pwd; echo made > made.txt; touch /etc/nope', cwd: 'src', timeout_ms: null });
    assert.is(result.isError, false);
    assert.match(result.content, 'exit code 1 (cwd: src, sandboxed)');
    assert.match(result.content, join(root, 'src'));
    assert.is(readFileSync(join(root, 'src/made.txt'), 'utf8'), 'made\n');
    const escape = await call(tool, { command: 'true', cwd: 'out-dir', timeout_ms: null });
    assert.is(escape.isError, true);
    const slow = await call(tool, { command: 'sleep 5', cwd: null, timeout_ms: 200 });
    assert.match(slow.content, 'timed out after 200 ms');
  });
}

test.after(() => rmSync(base, { recursive: true, force: true }));

test.run();
