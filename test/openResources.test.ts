// What the runtime opens (MCP servers, sandboxed commands) is on one list, closed or killed before the
// process exits: a server that will not stop, and the processes it started, end all the same.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isAlive } from '../src/childProcess.ts';
import { connectMcp } from '../src/mcp/connectMcp.ts';
import { closeResources, openResources } from '../src/openResources.ts';
import { runSandboxed } from '../src/sandbox/runSandboxed.ts';

const dir = mkdtempSync(join(tmpdir(), 'statecraft-resources-'));
const traceFile = join(dir, 'trace.txt');
const SERVER = fileURLToPath(new URL('fixtures/mcp/server.mjs', import.meta.url));

test.after(() => rmSync(dir, { recursive: true, force: true }));

const helperOf = (pid: number) => {
  const line = readFileSync(traceFile, 'utf8').split('\n').find((entry) => entry.startsWith(`server ${pid} `));
  return Number(/helper (\d+)/.exec(line ?? '')?.[1]);
};

const until = async (check: () => boolean, ms = 5_000) => {
  const end = Date.now() + ms;
  while (!check() && Date.now() < end) await new Promise((resolve) => setTimeout(resolve, 20));
  return check();
};

test('closing a stdio MCP connection ends a server that ignores its input ending and SIGTERM, and the process it started', async () => {
  const mcp = await connectMcp({
    name: 'stubborn',
    transport: { type: 'stdio', command: process.execPath, args: [SERVER], env: { TRACE_FILE: traceFile, STUBBORN: '1' } },
    closeGraceMs: 300,
  });
  const pid = mcp.pid!;
  assert.ok(await until(() => helperOf(pid) > 0), 'the server traced its helper');
  const helper = helperOf(pid);
  assert.ok(isAlive(pid) && isAlive(helper));
  assert.ok(openResources().some((resource) => resource.label === 'MCP server "stubborn"'), 'the connection is an open resource');
  await mcp.close();
  assert.not.ok(isAlive(pid), `server ${pid} survived close()`);
  assert.ok(await until(() => !isAlive(helper)), `helper ${helper} of the server survived close()`);
  assert.not.ok(openResources().some((resource) => resource.label === 'MCP server "stubborn"'), 'a closed connection is off the list');
});

test('closeResources ends every open MCP server and sandboxed command', async () => {
  const mcp = await connectMcp({
    name: 'plain',
    transport: { type: 'stdio', command: process.execPath, args: [SERVER], env: { TRACE_FILE: traceFile } },
    closeGraceMs: 300,
  });
  const command = runSandboxed({ command: 'sleep 31733', cwd: dir, workspaceRoot: dir, sandbox: 'off', timeoutMs: 60_000, killGraceMs: 300 });
  assert.ok(await until(() => openResources().length === 2), `open: ${openResources().map((r) => r.label).join(', ')}`);
  await closeResources();
  const result = await command;
  assert.is(result.signal, 'SIGTERM', 'the command was ended by the close');
  assert.not.ok(isAlive(mcp.pid!), 'the server was ended by the close');
  assert.equal(openResources(), []);
});

test.run();
