import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { z } from 'zod';
import { createOpenAIModel, defineAgent, defineTool, runAgent, startRun } from '../src/index.ts';
import { startScriptedServer } from '../src/testing/index.ts';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '..');
const cli = resolve(root, 'bin/statecraft.js');
const tmp = mkdtempSync(join(tmpdir(), 'statecraft-e2e-'));
const storeUrl = `sqlite:${join(tmp, 'runs.db')}`;

const add = defineTool({
  name: 'add',
  description: 'Add two numbers.',
  parameters: z.object({ a: z.number(), b: z.number() }),
  execute: ({ a, b }) => ({ sum: a + b }),
});

test('an agent runs through the real openai client against a loopback server, streaming', async () => {
  const server = await startScriptedServer([
    {
      content: 'Adding.',
      toolCalls: [
        { id: 'x1', name: 'add', arguments: { a: 2, b: 3 } },
        { id: 'x2', name: 'add', arguments: '{"a": 1}' },
      ],
      usage: { inputTokens: 50, outputTokens: 10 },
    },
    { content: 'The sum is 5.', usage: { inputTokens: 80, outputTokens: 6 } },
  ]);
  try {
    const model = createOpenAIModel({ baseURL: server.url, apiKey: 'test', model: 'gpt-4o-mini' });
    const agent = defineAgent({ name: 'calc', instructions: 'Add.', tools: [add], model });
    const result = await runAgent(agent, 'What is 2+3?');
    assert.is(result.status, 'done');
    assert.is(result.output, 'The sum is 5.');
    assert.equal(result.usage, { inputTokens: 130, outputTokens: 16 });
    assert.ok(result.costUsd > 0, 'gpt-4o-mini is priced from the default table');
    const second = server.requests[1]!;
    assert.ok(second.stream, 'the client streamed');
    const tools = second.messages.filter((m) => m.role === 'tool');
    assert.equal(tools.map((m) => m.toolCallId), ['x1', 'x2']);
    assert.is(tools[0]!.content, '{"sum":5}');
    assert.match(tools[1]!.content, /do not match its parameters/);
    assert.equal(second.tools.map((t) => t.name), ['add']);
    assert.equal((second.body.tools as { function: { strict: boolean } }[])[0]!.function.strict, true);
    server.assertDone();
  } finally {
    await server.close();
  }
});

test('cancelling a run aborts the HTTP request in flight', async () => {
  const server = await startScriptedServer([{ content: 'slow', delayMs: 30_000 }]);
  try {
    const model = createOpenAIModel({ baseURL: server.url, apiKey: 'test', model: 'm' });
    const handle = startRun(defineAgent({ name: 'slow', model }), { input: 'go' });
    const waitForRequest = async () => {
      while (server.requests.length === 0) await new Promise((r) => setTimeout(r, 5));
    };
    await waitForRequest();
    handle.cancel('stop');
    const result = await handle.result;
    assert.is(result.status, 'cancelled');
    assert.is(await server.requests[0]!.settled, 'aborted');
  } finally {
    await server.close();
  }
});

test('statecraft run plays the demo on the scripted server and exits 0', async () => {
  const env = { ...process.env, OPENAI_API_KEY: '', OPENAI_BASE_URL: '', NO_COLOR: '1', STATECRAFT_STORE: storeUrl };
  const { stdout, stderr } = await run(process.execPath, [cli, 'run', 'examples/demo/agent.ts'], { cwd: root, env });
  assert.match(stderr, /scripted model/);
  assert.match(stdout, /done · final_answer/);
  assert.match(stdout, /examples\/demo\/agent\.ts: \d+ lines/);
});

test('statecraft resume of a run that already ended says so and exits, starting no model server', async () => {
  const env = { ...process.env, OPENAI_API_KEY: '', OPENAI_BASE_URL: '', STATECRAFT_STORE: storeUrl };
  const { stdout } = await run(process.execPath, [cli, 'runs', '--json'], { cwd: root, env });
  const ended = (JSON.parse(stdout) as { runId: string; status: string }[]).find((r) => r.status === 'done');
  assert.ok(ended, 'a finished run from the test before');
  // A process that hung (a server left listening) is killed by the timeout and fails the test.
  const resumed = await run(process.execPath, [cli, 'resume', ended!.runId], { cwd: root, env, timeout: 30_000 }).then(
    () => ({ code: 0, stderr: '' }),
    (error: { code: number | null; stderr: string }) => error,
  );
  assert.is(resumed.code, 2, resumed.stderr);
  assert.match(resumed.stderr, `Run ${ended!.runId} already ended (done`);
});

test('statecraft run that fails before the run starts exits with the error, leaving no model server behind', async () => {
  const env = { ...process.env, OPENAI_API_KEY: '', OPENAI_BASE_URL: '' };
  // A process that hung (the scripted server left listening) is killed by the timeout and fails the test.
  const attempt = (args: string[]) =>
    run(process.execPath, [cli, 'run', ...args], { cwd: root, env, timeout: 30_000 }).then(
      () => ({ code: 0 as number | null, stderr: '' }),
      (error: { code: number | null; stderr: string }) => error,
    );
  const badStore = await attempt(['examples/demo/agent.ts', '--store', 'bogus://x']);
  assert.is(badStore.code, 2, badStore.stderr);
  assert.match(badStore.stderr, 'Store URL "bogus://x" has an unknown scheme');
  // Refused at start: a cost budget on a model with no price.
  const folder = mkdtempSync(join(tmpdir(), 'statecraft-agent-'));
  try {
    writeFileSync(join(folder, 'package.json'), '{"type": "module"}\n');
    writeFileSync(
      join(folder, 'agent.ts'),
      `import { defineAgent } from ${JSON.stringify(join(root, 'src/index.ts'))};\nexport const agent = defineAgent({ name: 'pricey', limits: { maxCostUsd: 1 } });\n` +
        `export const script = [{ content: 'hi' }];\nexport const scriptModel = 'unpriced-model';\n`,
    );
    const refused = await attempt([join(folder, 'agent.ts'), '--input', 'hi', '--store', storeUrl]);
    assert.is(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, 'has a cost budget of $1 but model "unpriced-model" has no known price');
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
});

test('statecraft run --json prints one event per line and ends with the result', async () => {
  const env = { ...process.env, OPENAI_API_KEY: '', OPENAI_BASE_URL: '', STATECRAFT_STORE: storeUrl };
  const { stdout } = await run(process.execPath, [cli, 'run', 'examples/demo/agent.ts', '--json'], { cwd: root, env });
  const events = stdout.trim().split('\n').map((line) => JSON.parse(line) as { type: string; result?: { status: string } });
  assert.ok(events.some((event) => event.type === 'tool.start'));
  assert.is(events.at(-1)!.type, 'end');
  assert.is(events.at(-1)!.result!.status, 'done');
});

test('statecraft run exits 3 when the step limit halts the run, 2 on a usage error', async () => {
  const env = { ...process.env, OPENAI_API_KEY: '', OPENAI_BASE_URL: '', STATECRAFT_STORE: storeUrl };
  const halted = await run(process.execPath, [cli, 'run', 'examples/demo/agent.ts', '--max-steps', '1'], { cwd: root, env }).then(
    () => 0,
    (error: { code: number; stdout: string }) => {
      assert.match(error.stdout, /step_limit/);
      return error.code;
    },
  );
  assert.is(halted, 3);
  const usage = await run(process.execPath, [cli, 'run'], { cwd: root, env }).then(
    () => 0,
    (error: { code: number; stderr: string }) => {
      assert.match(error.stderr, /Missing the agent module/);
      return error.code;
    },
  );
  assert.is(usage, 2);
});

test('an agent file Node would load as CommonJS gets an error that says why and what to do', async () => {
  // A folder with no package.json of "type": "module" above it, as a new project starts.
  const folder = mkdtempSync(join(tmpdir(), 'statecraft-agent-'));
  const file = join(folder, 'agent.ts');
  writeFileSync(file, `import { defineAgent } from ${JSON.stringify(join(root, 'src/index.ts'))};\nexport const agent = defineAgent({ name: 'plain' });\n`);
  try {
    const env = { ...process.env, OPENAI_API_KEY: '', OPENAI_BASE_URL: '', STATECRAFT_STORE: storeUrl };
    const failed = await run(process.execPath, [cli, 'run', file], { cwd: root, env }).then(
      () => ({ code: 0, stderr: '' }),
      (error: { code: number; stderr: string }) => error,
    );
    assert.is(failed.code, 2, failed.stderr);
    assert.match(failed.stderr, 'Node loaded it as CommonJS');
    assert.match(failed.stderr, 'Name it with .mts, or add a package.json containing {"type": "module"} beside it.');
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
});

test('a file the CLI cannot read is named, without a stack trace, and exits 2', async () => {
  const missing = join(tmp, 'no-such-run.jsonl');
  const failed = await run(process.execPath, [cli, 'import', missing, '--store', storeUrl], { cwd: root }).then(
    () => ({ code: 0, stderr: '' }),
    (error: { code: number; stderr: string }) => error,
  );
  assert.is(failed.code, 2, failed.stderr);
  assert.match(failed.stderr, `Cannot import ${missing}: there is no such file.`);
  assert.not.match(failed.stderr, '    at ', 'no stack trace');
});

test('commands that read runs, in a folder where none was recorded, say so and create no store there', async () => {
  const empty = mkdtempSync(join(tmpdir(), 'statecraft-empty-'));
  const { STATECRAFT_STORE: _store, ...env } = process.env;
  try {
    const attempt = (args: string[]) =>
      run(process.execPath, [cli, ...args], { cwd: empty, env }).then(
        ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
        (error: { code: number; stdout: string; stderr: string }) => error,
      );
    const listed = await attempt(['runs']);
    assert.is(listed.code, 0, listed.stderr);
    assert.match(listed.stderr, `No run store at ${join(empty, '.statecraft/runs.db')}: no run was recorded there.`);
    const history = await attempt(['history', 'abcd1234']);
    assert.is(history.code, 2, history.stderr);
    assert.match(history.stderr, 'StoreNotFoundError: No run store at');
    assert.match(history.stderr, 'name the store with --store (or STATECRAFT_STORE)');
    assert.not.ok(existsSync(join(empty, '.statecraft')), 'no store was created');
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }
});

test('every command answers --help and help <command> with its own usage, naming every option it documents', async () => {
  const help = (args: string[]) => run(process.execPath, [cli, ...args], { cwd: tmp });
  const { stdout: overview } = await help(['--help']);
  assert.match(overview, /Commands:/);
  const names = [...overview.split('Commands:\n')[1]!.matchAll(/^ {2}([a-z]+) /gm)].map((match) => match[1]!);
  assert.ok(names.length >= 15, `commands listed: ${names.join(', ')}`);
  for (const command of names) {
    const { stdout } = await help([command, '--help']);
    const [usage = '', ...rest] = stdout.split('\n');
    assert.ok(usage.startsWith(`Usage: statecraft ${command} `) || usage === `Usage: statecraft ${command}`, `${command}: ${usage}`);
    const documented = [...rest.join('\n').matchAll(/^ {2}(--[a-z-]+)/gm)].map((match) => match[1]!);
    for (const option of documented) assert.match(usage, `${option}`, `${command}'s usage names ${option}`);
    assert.not.match(usage, 'VALUE', `${command}: every option that takes a value is documented in its help`);
    const routed = await help(['help', command]);
    assert.is(routed.stdout, stdout, `statecraft help ${command} prints the same`);
  }
  const { stdout: runUsage } = await help(['run', '--help']);
  assert.match(runUsage.split('\n')[0]!, '[--scripted]');
  const { stdout: approveUsage } = await help(['approve', '--help']);
  for (const option of ['--hash HASH', '--always', '--actor PATH', '--agent MODULE', '--take-over']) assert.match(approveUsage.split('\n')[0]!, option);
});

test.after(() => rmSync(tmp, { recursive: true, force: true }));
test.run();
