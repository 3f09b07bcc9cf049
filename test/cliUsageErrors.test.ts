// Errors the user can fix (a module that does not load, a run or record not there, an option that is
// not a number, a store that cannot be reached) exit 2 with a message and no stack trace.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
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
  for (const args of [['history', 'zzzz'], ['export', 'nonexist'], ['show', 'abcd0001', '--at', '9999']]) {
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

test('an unknown option is named with the closest known one and the command\'s usage line: exit 2', async () => {
  const runs = await statecraft(['runs', '--frobnicate']);
  assert.is(runs.code, 2, runs.out);
  assert.match(runs.out, 'Unknown option --frobnicate for "statecraft runs".\nUsage: statecraft runs [--status LIST]');
  assert.not.match(runs.out, 'Did you mean', 'no option is close to --frobnicate');
  const limit = await statecraft(['runs', '--limt', '3']);
  assert.is(limit.code, 2, limit.out);
  assert.match(limit.out, 'Unknown option --limt for "statecraft runs". Did you mean --limit?');
  const run = await statecraft(['run', 'agent.ts', '--inptu', 'go']);
  assert.is(run.code, 2, run.out);
  assert.match(run.out, 'Unknown option --inptu for "statecraft run". Did you mean --input?\nUsage: statecraft run <agent module>');
  assert.not.match(run.out, 'positional argument');
});

test('a negative record number or count is refused as not a whole number, not as an ambiguous argument', async () => {
  const at = await statecraft(['show', 'abcd0001', '--at', '-1']);
  assert.is(at.code, 2, at.out);
  assert.match(at.out, '--at must be a record number from 0 to 1, found "-1"');
  const limit = await statecraft(['runs', '--limit', '-3']);
  assert.is(limit.code, 2, limit.out);
  assert.match(limit.out, '--limit must be a whole number, 1 or more, found "-3"');
  assert.not.match(at.out + limit.out, 'ambiguous');
});

test('a misspelt command is named with the closest one and a pointer to the help, not the whole help: exit 2', async () => {
  const failed = await statecraft(['histroy', 'abcd0001']);
  assert.is(failed.code, 2, failed.out);
  assert.is(failed.out, 'UserError: Unknown command "histroy". Did you mean "history"?\nSee the commands with: npx statecraft --help\n');
  const far = await statecraft(['frobnicate']);
  assert.is(far.code, 2, far.out);
  assert.match(far.out, 'Unknown command "frobnicate".\nSee the commands with: npx statecraft --help');
});

test('history --from past the last record, or after --to, is an error naming the range, not an empty listing', async () => {
  const past = await statecraft(['history', 'abcd0001', '--from', '50']);
  assert.is(past.code, 2, past.out);
  assert.match(past.out, 'Run "abcd0001-aaaa" has no record 50: expected a seq from 0 to 1');
  assert.not.match(past.out, 'SEQ');
  const reversed = await statecraft(['history', 'abcd0001', '--from', '1', '--to', '0']);
  assert.is(reversed.code, 2, reversed.out);
  assert.match(reversed.out, '--from 1 is after --to 0');
  const lastOne = await statecraft(['history', 'abcd0001', '--from', '1']);
  assert.is(lastOne.code, 0, lastOne.out);
  assert.match(lastOne.out, /\n1 /);
});

test('import names a file it cannot read without creating a store, and points a run already stored to --as', async () => {
  const fresh = join(dir, 'fresh.db');
  const missing = await statecraft(['import', join(dir, 'does-not-exist.jsonl'), '--store', `sqlite:${fresh}`]);
  assert.is(missing.code, 2, missing.out);
  assert.match(missing.out, `UserError: Cannot import ${join(dir, 'does-not-exist.jsonl')}: there is no such file.`);
  assert.not.ok(existsSync(fresh), 'no store was created');
  const file = join(dir, 'abcd0001.jsonl');
  assert.is((await statecraft(['export', 'abcd0001', '--out', file])).code, 0);
  const again = await statecraft(['import', file]);
  assert.is(again.code, 2, again.out);
  assert.match(again.out, 'Run "abcd0001-aaaa" is already in the store');
  assert.match(again.out, 'under a new id with --as RUN');
  const copy = await statecraft(['import', file, '--as', 'abcd0001-copy']);
  assert.is(copy.code, 0, copy.out);
  assert.match(copy.out, 'Imported abcd0001-copy: 2 records');
});

test('a store with an unknown scheme is refused, saying how to name a file with a colon, and no file is created', async () => {
  for (const url of ['mysql:foo', 'mysql://x/y']) {
    const failed = await statecraft(['runs', '--store', url]);
    assert.is(failed.code, 2, failed.out);
    assert.match(failed.out, `Store URL "${url}" has an unknown scheme "mysql:"`);
    assert.match(failed.out, '"memory:", "sqlite:<path>", a file path, or "postgres://…"');
    assert.match(failed.out, `write "sqlite:${url}" or "./${url}"`);
  }
  assert.not.ok(existsSync(join(dir, 'mysql:foo')), 'no SQLite file named mysql:foo');
  for (const url of ['./mysql:foo', 'sqlite:mysql:foo']) {
    const file = await statecraft(['runs', '--store', url]);
    assert.is(file.code, 0, `${url}: ${file.out}`);
    assert.match(file.out, /No run store at \S*\/mysql:foo: /, 'taken as the SQLite file mysql:foo');
  }
});

test.run();
