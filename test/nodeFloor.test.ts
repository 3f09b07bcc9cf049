// The lowest Node.js package.json's engines allows runs the built CLI and the library: a Node.js API
// newer than the floor (crc32 from node:zlib arrived in 20.15, not 20.12) fails here, on the floor's own
// binary, fetched through npm once (scripts/nodeFloor.mjs).
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { floorNode, floorVersion, NoFloorBuild } from '../scripts/nodeFloor.mjs';
import { missing } from './fixtures/missing.ts';

const exec = promisify(execFile);
const root = resolve(import.meta.dirname, '..');
const { version, engines } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string; engines: { node: string } };
const dir = mkdtempSync(join(tmpdir(), 'statecraft-floor-'));
const store = `sqlite:${join(dir, 'runs.db')}`;
let node = '';
/** Why the floor cannot be run here (no build of it for this platform), if it cannot. */
let unavailable = '';

/** Exit code and output of the floor's node with these arguments, in the repository, with no model configured. */
function onFloor(args: string[]) {
  const env = { ...process.env, OPENAI_API_KEY: '', OPENAI_BASE_URL: '', NO_COLOR: '1' };
  return exec(node, args, { cwd: root, env, timeout: 120_000 }).then(
    ({ stdout, stderr }) => ({ code: 0 as number | null, stdout, out: stdout + stderr }),
    (error: { code: number | null; stdout: string; stderr: string }) => ({ code: error.code, stdout: error.stdout, out: error.stdout + error.stderr }),
  );
}

test.before(() => {
  try {
    node = floorNode();
  } catch (error) {
    if (!(error instanceof NoFloorBuild)) throw error;
    unavailable = error.message;
    missing(unavailable, 'the tests that run it need the npm registry');
  }
});

/** A test on the floor's binary, left out where the registry has no build of it for this platform. */
const onFloorTest = (title: string, body: () => Promise<void>) => test(title, () => (unavailable ? undefined : body()));

test('engines.node is a lower bound, and the README states the same version', () => {
  const floor = floorVersion(engines.node);
  assert.match(floor, /^\d+\.\d+\.\d+$/);
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const stated = [...readme.matchAll(/(?:with|needs) Node\.js (\d+\.\d+) or later/g)].map((match) => match[1]);
  assert.ok(stated.length >= 2, 'the README states a Node.js version');
  assert.equal([...new Set(stated)], [floor.replace(/\.0$/, '')]);
});

onFloorTest('the binary is the floor', async () => {
  const { stdout } = await exec(node, ['--version']);
  assert.is(stdout.trim(), `v${floorVersion()}`);
});

onFloorTest('on the floor, the CLI prints its version and help', async () => {
  const printed = await onFloor(['bin/statecraft.js', '--version']);
  assert.is(printed.code, 0, printed.out);
  assert.is(printed.stdout.trim(), version);
  const help = await onFloor(['bin/statecraft.js', '--help']);
  assert.is(help.code, 0, help.out);
  assert.match(help.stdout, 'Usage: statecraft <command>');
});

onFloorTest('on the floor, the CLI runs the demo agent (TypeScript, on the scripted server), then lists, shows and verifies the run', async () => {
  const ran = await onFloor(['bin/statecraft.js', 'run', 'examples/demo/agent.ts', '--store', store]);
  assert.is(ran.code, 0, ran.out);
  const listed = await onFloor(['bin/statecraft.js', 'runs', '--store', store, '--json']);
  assert.is(listed.code, 0, listed.out);
  const runs = JSON.parse(listed.stdout) as Array<{ runId: string; agentId: string; status: string }>;
  assert.equal(runs.map((run) => [run.agentId, run.status]), [['project-guide', 'done']]);
  for (const command of ['history', 'show', 'verify']) {
    const read = await onFloor(['bin/statecraft.js', command, runs[0]!.runId, '--store', store]);
    assert.is(read.code, 0, `${command}: ${read.out}`);
  }
});

onFloorTest('on the floor, the library runs an agent on the scripted server through the openai client and records it in SQLite', async () => {
  const program = `
    import { z } from 'zod';
    import { defineAgent, defineTool, openStore, runAgent, stateAt } from './dist/src/index.js';
    import { startScriptedServer } from './dist/src/testing/index.js';
    const server = await startScriptedServer([
      { toolCalls: [{ name: 'add', arguments: { a: 2, b: 3 } }] },
      { content: 'The sum is 5.' },
    ]);
    process.env.OPENAI_BASE_URL = server.url;
    process.env.OPENAI_API_KEY = 'test';
    const add = defineTool({ name: 'add', description: 'Add.', parameters: z.object({ a: z.number(), b: z.number() }), execute: async ({ a, b }) => ({ sum: a + b }) });
    const store = openStore(${JSON.stringify(`sqlite:${join(dir, 'library.db')}`)});
    const result = await runAgent(defineAgent({ name: 'calculator', instructions: 'Add.', tools: [add] }), 'What is 2 + 3?', { store });
    const last = await stateAt(store, result.runId, (await store.summary(result.runId)).lastSeq);
    console.log(JSON.stringify({ status: result.status, output: result.output, messages: last.context.messages.length }));
    await store.close();
    await server.close();
  `;
  const ran = await onFloor(['--input-type=module', '-e', program]);
  assert.is(ran.code, 0, ran.out);
  assert.equal(JSON.parse(ran.stdout.trim().split('\n').at(-1)!), { status: 'done', output: 'The sum is 5.', messages: 5 });
});

test.run();
