import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

// Each call runs in a child process that is killed if it has not answered in time: a tool that
// blocks the event loop never lets its own timeout fire, so the bound has to come from outside.
const HANG_BOUND_MS = 60_000;
const tools = resolve(import.meta.dirname, '../src/toolsets/filesystem/filesystemTools.ts');
const runner = resolve(import.meta.dirname, '../src/tools/runTool.ts');
const base = realpathSync(mkdtempSync(join(tmpdir(), 'statecraft-stall-')));
const root = join(base, 'ws');
mkdirSync(join(root, 'src'), { recursive: true });
writeFileSync(join(root, 'src', 'evil.txt'), `${'a'.repeat(40)}!\n`);
writeFileSync(join(root, 'src', `${'a'.repeat(200)}.txt`), 'x\n');
writeFileSync(join(root, 'many-lines.txt'), 'ab\n'.repeat(300_000));
writeFileSync(join(root, 'long-line.txt'), `${'b'.repeat(200_000)}!`);

interface Answer {
  isError: boolean;
  content: string;
  error?: { kind: string };
}

function callInChild(name: string, args: Record<string, unknown>): Promise<Answer> {
  const script = `
    const { filesystemTools } = await import(${JSON.stringify(tools)});
    const { runTool } = await import(${JSON.stringify(runner)});
    const tool = filesystemTools({ root: ${JSON.stringify(root)}, approval: { writes: false } }).find((t) => t.name === ${JSON.stringify(name)});
    const ctx = { runId: 'run_1', callId: 'call_1', idempotencyKey: 'run_1:call_1', toolName: tool.name, secrets: { get: () => undefined } };
    const result = await runTool(tool, ${JSON.stringify(args)}, { ctx, defaultTimeoutMs: 30000 });
    process.stdout.write(JSON.stringify(result));
  `;
  return new Promise((done, fail) => {
    execFile(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { timeout: HANG_BOUND_MS, killSignal: 'SIGKILL' }, (error, stdout, stderr) => {
      if (error) fail(new Error(`${name} did not answer within ${HANG_BOUND_MS} ms (${error.signal ?? error.code}): the call blocked the process. ${stderr}`));
      else done(JSON.parse(stdout) as Answer);
    });
  });
}

test('search_files runs a catastrophic regular expression in linear time', async () => {
  const result = await callInChild('search_files', { pattern: '(a+)+$', regex: true, path: 'src', glob: null, case_sensitive: null, max_results: null });
  assert.is(result.isError, false, result.content);
  assert.match(result.content, 'No matches');
});

test('search_files matches a catastrophic glob in linear time', async () => {
  const result = await callInChild('search_files', { pattern: 'x', regex: null, path: null, glob: '*a*a*a*a*a*a*a*a*a*a*a*a*a*b', case_sensitive: null, max_results: null });
  assert.is(result.isError, false, result.content);
  assert.match(result.content, 'No matches');
});

test('edit_file with replace_all on a file of many short lines does not stall', async () => {
  const result = await callInChild('edit_file', { path: 'many-lines.txt', old_text: 'a', new_text: 'c', replace_all: true });
  assert.is(result.isError, false, result.content);
  assert.match(result.content, 'replaced 300000 occurrences');
  assert.ok(result.content.length < 2000, 'the line list is cut');
});

test('edit_file that finds nothing compares a long old_text with many lines without stalling', async () => {
  const result = await callInChild('edit_file', { path: 'many-lines.txt', old_text: 'z'.repeat(50_000), new_text: 'c', replace_all: null });
  assert.is(result.isError, true);
  assert.match(result.content, 'old_text was not found');
});

test('search_files over a long line of a large file answers', async () => {
  const result = await callInChild('search_files', { pattern: '^(b|b)*$', regex: true, path: null, glob: 'long-line.txt', case_sensitive: false, max_results: null });
  assert.is(result.isError, false, result.content);
  assert.match(result.content, 'No matches');
});

test.after(() => rmSync(base, { recursive: true, force: true }));

test.run();
