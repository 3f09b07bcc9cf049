// Errors the user can fix (a module that does not load, a run or record not there, an option that is
// not a number, a store that cannot be reached) exit 2 with a message and no stack trace.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { defineAgent, openStore, runAgent } from '../src/index.ts';
import { scriptedModel } from '../src/testing/index.ts';
import { cli, root } from './fixtures/cli.ts';

const exec = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'statecraft-cli-usage-'));
const storeUrl = `sqlite:${join(dir, 'runs.db')}`;
const env = { ...process.env, OPENAI_API_KEY: '', OPENAI_BASE_URL: '', NO_COLOR: '1', STATECRAFT_STORE: storeUrl, STATECRAFT_DEBUG: '' };
// Modules in the temp folder are ES modules, as the CLI asks of agent files.
writeFileSync(join(dir, 'package.json'), '{"type": "module"}');

/** The CLI run in the temp folder: exit code and everything it printed. */
const statecraft = (args: string[], extraEnv: Record<string, string> = {}) =>
  exec(process.execPath, [cli, ...args], { cwd: dir, env: { ...env, ...extraEnv }, timeout: 60_000 }).then(
    ({ stdout, stderr }) => ({ code: 0 as number | null, out: stdout + stderr }),
    (error: { code: number | null; stdout: string; stderr: string }) => ({ code: error.code, out: error.stdout + error.stderr }),
  );

const module = (name: string, text: string) => {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
};

test.before(async () => {
  const store = openStore(storeUrl);
  await runAgent(defineAgent({ name: 'short', model: scriptedModel([{ content: 'one' }]) }), 'go', { store, runId: 'abcd0001-aaaa' });
  await store.close();
});

test.after(() => rmSync(dir, { recursive: true, force: true }));

test('an agent module that does not load is named with the cause, without a stack trace, and exits 2', async () => {
  mkdirSync(join(dir, 'folder'), { recursive: true });
  const cases: [string, string | RegExp][] = [
    [module('throws.ts', "throw new Error('no config file');\nexport {};\n"), 'no config file'],
    [module('broken.ts', 'export const agent = ;\n'), /Unexpected ";"/],
    [join(dir, 'folder'), 'Directory import'],
    [module('notes.md', '# An agent\n'), 'Unknown file extension ".md"'],
  ];
  for (const [file, cause] of cases) {
    const failed = await statecraft(['run', file, '--input', 'go']);
    assert.is(failed.code, 2, failed.out);
    assert.match(failed.out, `UserError: Could not load agent module ${file}: `);
    assert.match(failed.out, cause);
    assert.not.match(failed.out, '    at ', 'no stack trace');
  }
  const debug = await statecraft(['run', join(dir, 'throws.ts'), '--input', 'go'], { STATECRAFT_DEBUG: '1' });
  assert.is(debug.code, 2, debug.out);
  assert.match(debug.out, /Caused by: Error: no config file\n\s+at .*throws\.ts:1/, 'STATECRAFT_DEBUG prints the cause with its stack');
});

test('a run or record that is not in the store is a usage error: exit 2', async () => {
  for (const args of [['history', 'zz'], ['export', 'nonexist'], ['show', 'abcd0001', '--at', '9999']]) {
    const failed = await statecraft(args);
    assert.is(failed.code, 2, `${args.join(' ')}: ${failed.out}`);
    assert.match(failed.out, /(RunNotFoundError|RecordNotFoundError): /);
    assert.not.match(failed.out, '    at ');
  }
  const record = await statecraft(['show', 'abcd0001', '--at', '9999']);
  assert.match(record.out, 'Run "abcd0001-aaaa" has no record 9999');
});

test('a PostgreSQL store that cannot be reached is a configuration error: exit 2', async () => {
  for (const url of ['postgres://127.0.0.1:1/statecraft', 'postgres://no-such-host.invalid/statecraft']) {
    const failed = await statecraft(['history', 'abcd0001', '--store', url]);
    assert.is(failed.code, 2, failed.out);
    assert.match(failed.out, 'StorageError: Could not connect to PostgreSQL');
  }
});

test('record numbers and counts take digits only: not empty, hex, exponents, signs or fractions', async () => {
  for (const [option, value] of [['--at', ''], ['--at', '0x3'], ['--at', '1e0'], ['--at', ' 1'], ['--at', '-1'], ['--at', '0.0']]) {
    const failed = await statecraft(['show', 'abcd0001', `${option}=${value}`]);
    assert.is(failed.code, 2, `${option} "${value}": ${failed.out}`);
    assert.match(failed.out, `${option} must be a record number from 0 to `);
    assert.match(failed.out, `found "${value}"`);
  }
  for (const args of [['history', 'abcd0001', '--from', ''], ['history', 'abcd0001', '--to', '0x1'], ['history', 'abcd0001', '--last', '1.5'], ['runs', '--limit', '0x3'], ['runs', '--limit', '0']]) {
    const failed = await statecraft(args);
    assert.is(failed.code, 2, `${args.join(' ')}: ${failed.out}`);
    assert.match(failed.out, /must be (a record number|a whole number, 1 or more)/);
  }
  const shown = await statecraft(['show', 'abcd0001', '--at', '00']);
  assert.is(shown.code, 0, shown.out);
  assert.match(shown.out, 'record 0 of');
});

test('statecraft run with no input refuses to start unless told to run on the instructions alone', async () => {
  const agentFile = (name: string, instructions: string) =>
    module(
      name,
      `import { defineAgent } from ${JSON.stringify(join(root, 'src/index.ts'))};\n` +
        `export const agent = defineAgent({ name: 'quiet'${instructions ? `, instructions: ${JSON.stringify(instructions)}` : ''} });\n` +
        `export const script = [{ content: 'Hello.' }];\n`,
    );
  const briefed = agentFile('briefed.ts', 'Greet the user.');
  const runsBefore = readdirSync(dir).length;
  const refused = await statecraft(['run', briefed]);
  assert.is(refused.code, 2, refused.out);
  assert.match(refused.out, 'No input for the run: pass the user\'s message with --input TEXT, or export `input`');
  assert.not.match(refused.out, 'scripted model', 'refused before any model server starts');
  assert.is(readdirSync(dir).length, runsBefore);

  const alone = await statecraft(['run', briefed, '--input', '']);
  assert.is(alone.code, 0, alone.out);
  assert.match(alone.out, 'Hello.');

  const empty = await statecraft(['run', agentFile('blank.ts', ''), '--input', '']);
  assert.is(empty.code, 2, empty.out);
  assert.match(empty.out, 'has no instructions and the input is empty');
});

test.run();
