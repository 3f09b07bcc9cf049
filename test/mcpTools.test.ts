import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createToolbox, defineAgent, runAgent, ToolError, UserError, type ToolMessage } from '../src/index.ts';
import { connectMcp, type McpConnection } from '../src/mcp/connectMcp.ts';
import { mcpInputSchema } from '../src/mcp/mcpInputSchema.ts';
import { mcpResultText } from '../src/mcp/mcpResultText.ts';
import { mcpToolName } from '../src/mcp/mcpToolName.ts';
import { isAlive } from '../src/childProcess.ts';
import { scriptedModel } from '../src/testing/index.ts';
import { runTool } from '../src/tools/runTool.ts';
import type { Tool } from '../src/tools/defineTool.ts';
import { noSecrets } from '../src/credentials/Secrets.ts';

const modulePath = (relative: string): string => fileURLToPath(new URL(`../node_modules/${relative}`, import.meta.url));
const EVERYTHING = modulePath('@modelcontextprotocol/server-everything/dist/index.js');
const FILESYSTEM = modulePath('@modelcontextprotocol/server-filesystem/dist/index.js');
const SDK = (path: string): string => new URL(`../node_modules/@modelcontextprotocol/sdk/dist/esm/${path}`, import.meta.url).href;

const tmp = mkdtempSync(join(tmpdir(), 'statecraft-mcp-'));
const open: McpConnection[] = [];
const spawned: ChildProcess[] = [];

const everything = async (extra: Partial<Parameters<typeof connectMcp>[0]> = {}): Promise<McpConnection> => {
  const mcp = await connectMcp({ name: 'ev', transport: { type: 'stdio', command: process.execPath, args: [EVERYTHING, 'stdio'] }, ...extra });
  open.push(mcp);
  return mcp;
};

const ctx = (toolName: string, callId = 'call_1') => ({ runId: 'run_1', callId, idempotencyKey: `run_1:${callId}`, toolName, secrets: noSecrets });

const call = async (tools: readonly Tool[], name: string, args: object, signal?: AbortSignal) => {
  const checked = createToolbox(tools).validateCall({ id: 'call_1', name, arguments: JSON.stringify(args) });
  if (!checked.ok) throw new Error(checked.message);
  return runTool(checked.tool, checked.args, { ctx: ctx(name), ...(signal ? { signal } : {}) });
};

const childrenOf = (ppid: number): number[] =>
  readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === ppid;
      } catch {
        return false;
      }
    })
    .map(Number);

const waitFor = async (check: () => boolean, ms = 10_000): Promise<boolean> => {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return true;
};

test.after(async () => {
  await Promise.all(open.map((mcp) => mcp.close()));
  for (const child of spawned) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  rmSync(tmp, { recursive: true, force: true });
});

test('server-everything tools become strict, prefixed Statecraft tools', async () => {
  const mcp = await everything();
  assert.is(mcp.server.name, 'mcp-servers/everything');
  const names = mcp.tools.map((t) => t.name);
  for (const name of ['ev__echo', 'ev__get-sum', 'ev__trigger-long-running-operation', 'ev__get-tiny-image']) {
    assert.ok(names.includes(name), `${name} in ${names.join(', ')}`);
  }
  for (const tool of mcp.tools) {
    assert.match(tool.name, /^[a-zA-Z0-9_-]{1,64}$/);
    assert.is(tool.jsonSchema.additionalProperties, false, tool.name);
    assert.equal(tool.jsonSchema.required, Object.keys(tool.jsonSchema.properties as object), tool.name);
  }
  const echo = mcp.tools.find((t) => t.name === 'ev__echo')!;
  assert.equal(echo.jsonSchema.properties, { message: { type: 'string', description: 'Message to echo' } });
  assert.equal(mcp.skipped.map((s) => s.name), ['simulate-research-query']);
  assert.match(mcp.skipped[0]!.reason, /MCP task/);
  const links = mcp.tools.find((t) => t.name === 'ev__get-resource-links')!;
  assert.equal((links.jsonSchema.properties as Record<string, { anyOf?: unknown[] }>).count?.anyOf?.[1], { type: 'null' });
});

test('echo and get-sum run through validateCall and runTool', async () => {
  const mcp = await everything();
  const echoed = await call(mcp.tools, 'ev__echo', { message: 'hello' });
  assert.is(echoed.isError, false);
  assert.is(echoed.content, 'Echo: hello');
  const sum = await call(mcp.tools, 'ev__get-sum', { a: 2, b: 3.5 });
  assert.is(sum.content, 'The sum of 2 and 3.5 is 5.5.');
});

test('null for an optional field is dropped and the server default applies; images and links are summarised', async () => {
  const mcp = await everything();
  const checked = createToolbox(mcp.tools).validateCall({ id: 'c', name: 'ev__get-resource-links', arguments: '{"count":null}' });
  assert.ok(checked.ok);
  if (checked.ok) assert.is(checked.args.count, 3);
  const links = await call(mcp.tools, 'ev__get-resource-links', { count: 2 });
  assert.is(links.content.match(/\[resource link: .+ <.+>/g)?.length, 2, links.content);
  const image = await call(mcp.tools, 'ev__get-tiny-image', {});
  assert.match(image.content, /\[image: image\/png, \d+ bytes\]/);
});

test('bad arguments are refused by the toolbox with a readable message before reaching the server', async () => {
  const mcp = await everything();
  const checked = createToolbox(mcp.tools).validateCall({ id: 'c7', name: 'ev__get-sum', arguments: '{"a":"two","b":3,"c":1}' });
  assert.is(checked.ok, false);
  if (checked.ok) return;
  assert.is(checked.reason, 'invalid_arguments');
  assert.match(checked.message, /at a: .*expected number/i);
  assert.match(checked.message, /unknown key "c"/);
  assert.match(checked.message, /ev__get-sum/);
});

test('aborting ctx.signal aborts a long-running MCP request, and the connection stays usable', async () => {
  const mcp = await everything();
  const slow = mcp.tools.find((t) => t.name === 'ev__trigger-long-running-operation')!;
  const controller = new AbortController();
  const pending = slow.execute({ duration: 60, steps: 60 }, { ...ctx(slow.name), attempt: 1, signal: controller.signal });
  setTimeout(() => controller.abort(new Error('user pressed stop')), 100);
  const outcome = await Promise.race([
    Promise.resolve(pending).then(() => 'resolved', (error: Error) => `rejected: ${error.message}`),
    new Promise((resolve) => setTimeout(() => resolve('still running'), 20_000)),
  ]);
  assert.match(String(outcome), /^rejected: .*user pressed stop/);
  const viaRunTool = new AbortController();
  const running = call(mcp.tools, 'ev__trigger-long-running-operation', { duration: 60, steps: 60 }, viaRunTool.signal);
  setTimeout(() => viaRunTool.abort(), 100);
  const result = await running;
  assert.is(result.error?.kind, 'cancelled');
  assert.is((await call(mcp.tools, 'ev__echo', { message: 'still here' })).content, 'Echo: still here');
});

test('include, exclude, needsApproval and scopes shape the tool list; unknown includes are reported', async () => {
  const seen: string[] = [];
  const mcp = await everything({
    name: 'e2',
    include: ['echo', 'get-sum', 'get-env', 'no-such-tool'],
    exclude: ['get-env'],
    needsApproval: (name) => (seen.push(name), name === 'get-sum'),
    scopes: ['math'],
    timeoutMs: 5_000,
  });
  assert.equal(mcp.tools.map((t) => t.name), ['e2__echo', 'e2__get-sum']);
  assert.equal(seen, ['echo', 'get-sum']);
  assert.equal(mcp.tools.map((t) => t.needsApproval), [false, true]);
  assert.equal(mcp.tools[0]!.scopes, ['math']);
  assert.is(mcp.tools[0]!.timeoutMs, 5_000);
  assert.is(mcp.skipped.length, 1);
  assert.is(mcp.skipped[0]!.name, 'no-such-tool');
});

test('close() ends the stdio server process and is safe to call twice', async () => {
  const mcp = await connectMcp({ name: 'ev', transport: { type: 'stdio', command: process.execPath, args: [EVERYTHING, 'stdio'] } });
  const pid = mcp.pid!;
  assert.ok(isAlive(pid));
  assert.ok(childrenOf(process.pid).includes(pid));
  await mcp.close();
  await mcp.close();
  assert.not.ok(isAlive(pid), `server ${pid} still alive after close()`);
  assert.not.ok(childrenOf(process.pid).includes(pid));
});

test('the stdio server does not outlive a parent that is killed', async () => {
  const script = join(tmp, 'parent.mts');
  const connect = fileURLToPath(new URL('../src/mcp/connectMcp.ts', import.meta.url));
  writeFileSync(
    script,
    `import { connectMcp } from ${JSON.stringify(connect)};\n` +
      `const mcp = await connectMcp({ name: 'ev', transport: { type: 'stdio', command: process.execPath, args: [${JSON.stringify(EVERYTHING)}, 'stdio'] } });\n` +
      'console.log(`pid ${mcp.pid}`);\nsetInterval(() => {}, 1000);\n',
  );
  const parent = spawn(process.execPath, ['--import', 'tsx', script], {
    cwd: fileURLToPath(new URL('..', import.meta.url)),
    env: { ...process.env, FORCE_COLOR: undefined },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  spawned.push(parent);
  let out = '';
  parent.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  assert.ok(await waitFor(() => /pid \d+/.test(out) || parent.exitCode !== null, 20_000) && /pid \d+/.test(out), `parent printed: ${out}`);
  const pid = Number(/pid (\d+)/.exec(out)![1]);
  assert.ok(isAlive(pid));
  parent.kill('SIGKILL');
  assert.ok(await waitFor(() => !isAlive(pid)), `server ${pid} survived its killed parent`);
});

test('server-filesystem reads inside its folder; a read outside comes back as the server\'s error', async () => {
  const allowed = join(tmp, 'allowed');
  const outside = join(tmp, 'outside.txt');
  await import('node:fs/promises').then((fs) => fs.mkdir(allowed));
  writeFileSync(join(allowed, 'note.txt'), 'hello from the allowed folder\n');
  writeFileSync(outside, 'secret');
  const fs = await connectMcp({ name: 'fs', transport: { type: 'stdio', command: process.execPath, args: [FILESYSTEM, allowed] } });
  open.push(fs);
  assert.ok(fs.tools.some((t) => t.name === 'fs__read_text_file'));
  const read = await call(fs.tools, 'fs__read_text_file', { path: join(allowed, 'note.txt'), head: null, tail: null });
  assert.is(read.isError, false);
  assert.is(read.content.trim(), 'hello from the allowed folder');
  const denied = await call(fs.tools, 'fs__read_text_file', { path: outside, head: null, tail: null });
  assert.is(denied.isError, true);
  assert.is(denied.error?.kind, 'thrown');
  assert.match(denied.content, /Access denied|outside allowed/i);
  assert.not.match(denied.content, /secret/);
  const tool = fs.tools.find((t) => t.name === 'fs__read_text_file')!;
  try {
    await tool.execute({ path: outside }, { ...ctx(tool.name), attempt: 1, signal: new AbortController().signal });
    assert.unreachable('a read outside the allowed folder must fail');
  } catch (error) {
    assert.instance(error, ToolError);
    assert.is((error as Error).message, denied.error?.message);
  }
});

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });

test('server-everything over streamable HTTP on 127.0.0.1', async () => {
  const port = await freePort();
  const server = spawn(process.execPath, [EVERYTHING, 'streamableHttp'], { env: { ...process.env, PORT: String(port) }, stdio: ['ignore', 'ignore', 'pipe'] });
  spawned.push(server);
  let log = '';
  server.stderr!.on('data', (chunk: Buffer) => (log += chunk.toString()));
  if (!(await waitFor(() => /listening on port/i.test(log) || server.exitCode !== null, 15_000)) || server.exitCode !== null) {
    console.log(`  notice: server-everything could not serve streamable HTTP here; skipped (${log.trim().slice(-200)})`);
    return;
  }
  try {
    const mcp = await connectMcp({ name: 'web', transport: { type: 'http', url: `http://127.0.0.1:${port}/mcp`, headers: { 'x-test': '1' } } });
    open.push(mcp);
    assert.is(mcp.pid, undefined);
    assert.is((await call(mcp.tools, 'web__echo', { message: 'over http' })).content, 'Echo: over http');
    await mcp.close();
  } finally {
    server.kill('SIGKILL');
  }
});

test('an agent run calls an MCP tool and the model reads its result', async () => {
  const mcp = await everything();
  const model = scriptedModel([
    (request) => {
      assert.ok(request.tools.some((t) => t.name === 'ev__echo'));
      return { toolCalls: [{ id: 'c1', name: 'ev__echo', arguments: { message: 'from the agent' } }] };
    },
    (request) => {
      const results = request.messages.filter((m): m is ToolMessage => m.role === 'tool');
      assert.equal(results.map((m) => [m.toolCallId, m.content]), [['c1', 'Echo: from the agent']]);
      return { content: 'The server said: Echo: from the agent' };
    },
  ]);
  const agent = defineAgent({ name: 'mcp-agent', model, tools: mcp.tools });
  const result = await runAgent(agent, 'echo something');
  assert.is(result.status, 'done');
  assert.is(result.output, 'The server said: Echo: from the agent');
  model.assertDone();
});

test('a hand-written server: odd names, unusable schemas, errors, missing descriptions, and a server that will not exit', async () => {
  const script = join(tmp, 'oddServer.mjs');
  writeFileSync(
    script,
    `import { Server } from ${JSON.stringify(SDK('server/index.js'))};\n` +
      `import { StdioServerTransport } from ${JSON.stringify(SDK('server/stdio.js'))};\n` +
      `import { ListToolsRequestSchema, CallToolRequestSchema } from ${JSON.stringify(SDK('types.js'))};\n` +
      `const server = new Server({ name: 'odd', version: '1.2.3' }, { capabilities: { tools: {} } });\n` +
      `const obj = (properties, required = []) => ({ type: 'object', properties, required });\n` +
      `server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: [\n` +
      `  { name: 'my.tool', description: 'dotted', inputSchema: obj({ q: { type: 'string' } }, ['q']) },\n` +
      `  { name: 'my tool', description: 'spaced', inputSchema: obj({}) },\n` +
      `  { name: 'tags', description: 'record', inputSchema: obj({ tags: { type: 'object', additionalProperties: { type: 'string' } } }) },\n` +
      `  { name: 'anything', description: 'untyped', inputSchema: obj({ v: {} }) },\n` +
      `  { name: 'fails', inputSchema: { type: 'object' } },\n` +
      `  { name: 'nullable', description: 'type list', inputSchema: obj({ n: { type: ['integer', 'null'] } }, ['n']) },\n` +
      `] }));\n` +
      `server.setRequestHandler(CallToolRequestSchema, async (req) => req.params.name === 'fails'\n` +
      `  ? { isError: true, content: [{ type: 'text', text: 'disk is full' }] }\n` +
      `  : { content: [{ type: 'text', text: JSON.stringify(req.params.arguments) }] });\n` +
      `await server.connect(new StdioServerTransport());\n` +
      `process.on('SIGTERM', () => {});\nsetInterval(() => {}, 1000);\n`,
  );
  const mcp = await connectMcp({ name: 'odd', transport: { type: 'stdio', command: process.execPath, args: [script] } });
  open.push(mcp);
  assert.equal(mcp.server, { name: 'odd', version: '1.2.3' });
  assert.equal(mcp.tools.map((t) => t.name), ['odd__my_tool', 'odd__my_tool_2', 'odd__fails', 'odd__nullable']);
  assert.equal(mcp.skipped.map((s) => s.name), ['tags', 'anything']);
  assert.match(mcp.skipped[0]!.reason, /tags/);
  assert.match(mcp.tools[2]!.description, /fails/);
  assert.is((await call(mcp.tools, 'odd__my_tool', { q: 'x' })).content, '{"q":"x"}');
  assert.is((await call(mcp.tools, 'odd__nullable', { n: null })).content, '{"n":null}');
  const failed = await call(mcp.tools, 'odd__fails', {});
  assert.is(failed.isError, true);
  assert.is(failed.error?.message, 'disk is full');
  const pid = mcp.pid!;
  await mcp.close();
  assert.not.ok(isAlive(pid), `server ${pid}, which ignores end of input and SIGTERM, survived close()`);
});

test('a server that cannot start, or bad options, fail with messages that name the problem', async () => {
  try {
    await connectMcp({ name: 'dead', transport: { type: 'stdio', command: process.execPath, args: ['-e', 'console.error("boom: no config"); process.exit(3)'] } });
    assert.unreachable('connecting to a server that exits must fail');
  } catch (error) {
    assert.instance(error, ToolError);
    assert.match((error as Error).message, /MCP server "dead" could not be started/);
    assert.match((error as Error).message, /boom: no config/);
  }
  try {
    await connectMcp({ name: 'fs.files', transport: { type: 'stdio', command: process.execPath } });
    assert.unreachable('a name with a dot must be refused');
  } catch (error) {
    assert.instance(error, UserError);
    assert.match((error as Error).message, /"fs\.files"/);
  }
});

test('helpers: names are sanitised, cut to 64 characters and kept unique', () => {
  const taken = new Set(['p__a_b']);
  assert.is(mcpToolName('p', 'a.b', taken), 'p__a_b_2');
  const long = mcpToolName('p', 'x'.repeat(100), new Set());
  assert.is(long.length, 64);
  assert.is(mcpToolName('p', 'x'.repeat(100), new Set([long])).length, 64);
  assert.not.equal(mcpToolName('p', 'x'.repeat(100), new Set([long])), long);
});

test('helpers: schemas that are not objects are refused with a reason; result blocks become text', () => {
  assert.throws(() => mcpInputSchema({ type: 'string' }), /not "object"/);
  assert.throws(() => mcpInputSchema(null), /not a JSON object/);
  const text = mcpResultText({
    content: [
      { type: 'text', text: 'line' },
      { type: 'audio', mimeType: 'audio/wav', data: 'AAAA' },
      { type: 'resource', resource: { uri: 'file:///a.txt', mimeType: 'text/plain', text: 'body' } },
      { type: 'resource', resource: { uri: 'file:///b.bin', blob: 'AAA=' } },
    ],
  });
  assert.is(text, 'line\n[audio: audio/wav, 3 bytes]\n[resource: file:///a.txt, text/plain]\nbody\n[resource: file:///b.bin, unknown type, 2 bytes]');
  assert.is(mcpResultText({ content: [], structuredContent: { a: 1 } }), '{"a":1}');
});

test.run();
