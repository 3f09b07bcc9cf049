import { execFileSync } from 'node:child_process';
import { existsSync, linkSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, renameSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ToolError } from '../src/errors.ts';
import { Workspace, type WorkspaceOptions } from '../src/toolsets/filesystem/Workspace.ts';
import { WorkspaceError, type WorkspaceRefusal } from '../src/toolsets/filesystem/WorkspaceError.ts';

const base = realpathSync(mkdtempSync(join(tmpdir(), 'statecraft-ws-')));
const root = join(base, 'ws');
const outside = join(base, 'outside');
const secret = 'TOP SECRET outside the workspace';

function setup(): void {
  mkdirSync(join(root, 'sub'), { recursive: true });
  mkdirSync(outside, { recursive: true });
  mkdirSync(join(base, 'ws-evil'), { recursive: true });
  writeFileSync(join(outside, 'secret.txt'), secret);
  writeFileSync(join(base, 'ws-evil', 'secret.txt'), secret);
  writeFileSync(join(root, 'ok.txt'), 'hello\n');
  writeFileSync(join(root, 'sub', 'inner.txt'), 'inner\n');
  symlinkSync('/etc', join(root, 'link-etc'));
  symlinkSync('/etc/passwd', join(root, 'link-passwd'));
  symlinkSync(outside, join(root, 'mid'));
  symlinkSync('c2', join(root, 'c1'));
  symlinkSync('sub/../c3', join(root, 'c2'));
  symlinkSync(join(outside, 'secret.txt'), join(root, 'c3'));
  symlinkSync('sub/inner.txt', join(root, 'good-link'));
  symlinkSync(join(root, 'sub'), join(root, 'abs-inside'));
  symlinkSync('../outside/secret.txt', join(root, 'rel-out'));
  symlinkSync('l2', join(root, 'l1'));
  symlinkSync('l1', join(root, 'l2'));
  symlinkSync('/dev/zero', join(root, 'zero'));
  linkSync(join(outside, 'secret.txt'), join(root, 'hard'));
  execFileSync('mkfifo', [join(root, 'fifo')]);
  writeFileSync(join(root, 'big.bin'), '');
  truncateSync(join(root, 'big.bin'), 2 * 1024 * 1024);
}
setup();

async function refusal(run: () => Promise<unknown>): Promise<WorkspaceError> {
  try {
    await run();
  } catch (error) {
    assert.instance(error, ToolError);
    assert.instance(error, WorkspaceError);
    return error as WorkspaceError;
  }
  assert.unreachable('expected a WorkspaceError');
  throw new Error('unreachable');
}

const corpus: [string, WorkspaceRefusal, string][] = [
  ['../x', 'outside_root', 'outside the workspace root'],
  ['a/../../x', 'outside_root', 'through ".."'],
  ['sub/../../outside/secret.txt', 'outside_root', '".."'],
  ['/etc/passwd', 'outside_root', 'absolute path outside'],
  [join(base, 'ws-evil', 'secret.txt'), 'outside_root', 'absolute path outside'],
  [`${root}/../ws-evil/secret.txt`, 'outside_root', '".."'],
  ['link-etc', 'symlink_outside', '"/etc"'],
  ['link-etc/passwd', 'symlink_outside', 'symbolic link'],
  ['link-passwd', 'symlink_outside', '"/etc/passwd"'],
  ['mid/secret.txt', 'symlink_outside', 'symbolic link'],
  ['c1', 'symlink_outside', 'secret.txt'],
  ['rel-out', 'symlink_outside', 'leads outside'],
  ['l1', 'symlink_loop', 'more than 40'],
  ['hard', 'hard_link', '2 hard links'],
  ['fifo', 'special_file', 'FIFO'],
  ['zero', 'symlink_outside', '/dev/zero'],
  ['big.bin', 'too_large', 'over the read limit of 1048576 bytes'],
  ['a\0b', 'invalid_path', 'NUL byte'],
  ['', 'invalid_path', 'empty'],
  ['sub', 'not_a_file', 'folder'],
  ['missing/file.txt', 'not_found', '"missing" does not exist'],
  ['ok.txt/x', 'not_a_directory', 'not a folder'],
];

test('reads are refused for every escape in the corpus, with the reason', async () => {
  const ws = new Workspace(root);
  for (const [input, reason, text] of corpus) {
    const error = await refusal(() => ws.readText(input));
    assert.is(error.reason, reason, `${JSON.stringify(input)}: ${error.message}`);
    assert.ok(error.message.includes(text), `${JSON.stringify(input)}: ${error.message}`);
    assert.not.ok(error.message.includes(secret));
  }
});

test('paths that stay inside are read, including links that resolve inside', async () => {
  const ws = new Workspace(root);
  assert.is((await ws.readText('ok.txt')).text, 'hello\n');
  assert.is((await ws.readText('./sub/../ok.txt')).text, 'hello\n');
  assert.is((await ws.readText(join(root, 'ok.txt'))).path, 'ok.txt');
  const viaLink = await ws.readText('good-link');
  assert.is(viaLink.text, 'inner\n');
  assert.is(viaLink.path, 'sub/inner.txt');
  assert.is((await ws.readText('abs-inside/inner.txt')).text, 'inner\n');
});

test('hard-linked files can be read only when configured, never written', async () => {
  const ws = new Workspace(root, { allowHardLinkedReads: true });
  assert.is((await ws.readText('hard')).text, secret);
  assert.is((await refusal(() => ws.writeText('hard', 'x'))).reason, 'hard_link');
  assert.is(readFileSync(join(outside, 'secret.txt'), 'utf8'), secret);
});

test('the read limit is configurable', async () => {
  const ws = new Workspace(root, { maxReadBytes: 3 });
  const error = await refusal(() => ws.readText('ok.txt'));
  assert.is(error.reason, 'too_large');
  assert.match(error.message, 'is 6 bytes, over the read limit of 3 bytes');
});

const writeCorpus: [string, WorkspaceRefusal][] = [
  ['../x', 'outside_root'],
  ['a/../../x', 'outside_root'],
  ['/etc/passwd', 'outside_root'],
  [join(base, 'ws-evil', 'secret.txt'), 'outside_root'],
  ['link-etc', 'symlink_outside'],
  ['link-etc/evil', 'symlink_outside'],
  ['mid/secret.txt', 'symlink_outside'],
  ['mid/new/deep.txt', 'symlink_outside'],
  ['c1', 'symlink_outside'],
  ['rel-out', 'symlink_outside'],
  ['hard', 'hard_link'],
  ['fifo', 'special_file'],
  ['zero', 'symlink_outside'],
  ['a\0b', 'invalid_path'],
  ['', 'invalid_path'],
  ['sub', 'not_a_file'],
];

test('writes are refused for every escape in the corpus and touch nothing outside', async () => {
  const ws = new Workspace(root);
  for (const [input, reason] of writeCorpus) {
    const error = await refusal(() => ws.writeText(input, 'pwned'));
    assert.is(error.reason, reason, `${JSON.stringify(input)}: ${error.message}`);
  }
  assert.is(readFileSync(join(outside, 'secret.txt'), 'utf8'), secret);
  assert.is(readFileSync(join(base, 'ws-evil', 'secret.txt'), 'utf8'), secret);
  assert.not.ok(existsSync(join(outside, 'new')));
  assert.not.ok(existsSync(join(base, 'x')));
});

test('writes create parent folders inside the root, replace atomically and write through inside links', async () => {
  const ws = new Workspace(root);
  const created = await ws.writeText('new/deep/file.txt', 'one');
  assert.equal(created, { path: 'new/deep/file.txt', bytes: 3, created: true });
  assert.is(readFileSync(join(root, 'new/deep/file.txt'), 'utf8'), 'one');
  const replaced = await ws.writeText('new/deep/file.txt', 'two');
  assert.is(replaced.created, false);
  assert.is(readFileSync(join(root, 'new/deep/file.txt'), 'utf8'), 'two');
  const entries = execFileSync('ls', ['-A', join(root, 'new/deep')], { encoding: 'utf8' }).trim();
  assert.is(entries, 'file.txt');
  await ws.writeText('good-link', 'inner v2\n');
  assert.is(readFileSync(join(root, 'sub/inner.txt'), 'utf8'), 'inner v2\n');
  writeFileSync(join(root, 'sub/inner.txt'), 'inner\n');
});

function raced(hook: WorkspaceOptions['beforeOpen']): Workspace {
  return new Workspace(root, { beforeOpen: hook });
}

test('TOCTOU: a last component swapped for a symlink after the check is refused', async () => {
  writeFileSync(join(root, 'swap.txt'), 'inside');
  const ws = raced(() => {
    rmSync(join(root, 'swap.txt'));
    symlinkSync(join(outside, 'secret.txt'), join(root, 'swap.txt'));
  });
  const error = await refusal(() => ws.readText('swap.txt'));
  assert.is(error.reason, 'changed_during_open');
  rmSync(join(root, 'swap.txt'));
});

test('TOCTOU: a folder swapped for a symlink to outside is never followed', async () => {
  mkdirSync(join(root, 'race'), { recursive: true });
  writeFileSync(join(root, 'race', 'secret.txt'), 'inside copy');
  const swap = (): void => {
    renameSync(join(root, 'race'), join(root, 'race-old'));
    symlinkSync(outside, join(root, 'race'));
  };
  const read = await raced(swap).readText('race/secret.txt');
  assert.is(read.text, 'inside copy');
  rmSync(join(root, 'race'));
  renameSync(join(root, 'race-old'), join(root, 'race'));
  await raced(swap).writeText('race/secret.txt', 'written');
  assert.is(readFileSync(join(outside, 'secret.txt'), 'utf8'), secret);
  assert.is(readFileSync(join(root, 'race-old', 'secret.txt'), 'utf8'), 'written');
  rmSync(join(root, 'race'));
  rmSync(join(root, 'race-old'), { recursive: true });
});

test('TOCTOU: a held folder moved outside the root is refused on open', async () => {
  mkdirSync(join(root, 'moving'), { recursive: true });
  writeFileSync(join(root, 'moving', 'f.txt'), 'inside');
  const move = (): void => renameSync(join(root, 'moving'), join(outside, 'moved'));
  assert.is((await refusal(() => raced(move).readText('moving/f.txt'))).reason, 'changed_during_open');
  renameSync(join(outside, 'moved'), join(root, 'moving'));
  assert.is((await refusal(() => raced(move).writeText('moving/f.txt', 'x'))).reason, 'changed_during_open');
  assert.is(readFileSync(join(outside, 'moved', 'f.txt'), 'utf8'), 'inside');
  rmSync(join(outside, 'moved'), { recursive: true });
});

test('TOCTOU: a file swapped for a FIFO is refused without blocking', async () => {
  writeFileSync(join(root, 'pipe.txt'), 'inside');
  const ws = raced(() => {
    rmSync(join(root, 'pipe.txt'));
    execFileSync('mkfifo', [join(root, 'pipe.txt')]);
  });
  assert.is((await refusal(() => ws.readText('pipe.txt'))).reason, 'special_file');
  rmSync(join(root, 'pipe.txt'));
});

test('the root is resolved with realpath and must exist', () => {
  symlinkSync(root, join(base, 'ws-link'));
  assert.is(new Workspace(join(base, 'ws-link')).root, root);
  assert.throws(() => new Workspace(join(base, 'nope')), /cannot be resolved/);
  assert.throws(() => new Workspace(join(root, 'ok.txt')), /not a folder/);
});

test.after(() => rmSync(base, { recursive: true, force: true }));

test.run();
