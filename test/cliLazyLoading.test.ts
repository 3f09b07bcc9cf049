// The CLI loads what a command needs and no more: --version and --help no package at all, a listing
// of runs none of the model client, the statechart library, the inspector, Graphviz, MCP or PostgreSQL.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cli, cliIn, root } from './fixtures/cli.ts';

const exec = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'statecraft-cli-lazy-'));
const { statecraft, storeUrl, env } = cliIn(dir);
const register = resolve(root, 'test/fixtures/loaded/register.mjs');

/** The modules `statecraft <args>` loads, as URLs. */
async function loadedBy(args: string[], extraEnv: Record<string, string> = {}): Promise<string[]> {
  const file = join(dir, 'loaded.txt');
  writeFileSync(file, '');
  await exec(process.execPath, ['--import', register, cli, ...args], { cwd: root, env: { ...env, ...extraEnv, LOADED_MODULES_FILE: file } });
  return readFileSync(file, 'utf8').trim().split('\n').filter((url) => !url.endsWith('/test/fixtures/loaded/hooks.mjs'));
}

const packages = (urls: string[]) => new Set(urls.flatMap((url) => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)?.[1] ?? []));

test('--version and --help load no package and no command\'s code', async () => {
  for (const args of [['--version'], ['--help'], ['runs', '--help']]) {
    const loaded = await loadedBy(args);
    assert.equal([...packages(loaded)], [], args.join(' '));
    assert.ok(loaded.length < 60, `${args.join(' ')} loads ${loaded.length} modules`);
    assert.not.ok(loaded.some((url) => /\/cli\/(logCommands|runCommand|drive)\.js$/.test(url)), `${args.join(' ')} loads a command's code`);
  }
});

test('runs on SQLite loads neither the model client, xstate, the inspector, Graphviz, the MCP SDK, tsx nor pg', async () => {
  const started = await statecraft(['run', 'examples/demo/agent.ts']);
  assert.is(started.code, 0, started.out);
  const loaded = await loadedBy(['runs', '--store', storeUrl]);
  assert.ok(loaded.some((url) => url.endsWith('/cli/logCommands.js')), 'the listing ran');
  const found = packages(loaded);
  for (const heavy of ['openai', 'xstate', '@viz-js/viz', '@modelcontextprotocol/sdk', 'tsx', 'pg', 'pg-boss', 'hono', '@hono/node-server', '@hono/zod-openapi', 'rate-limiter-flexible']) assert.not.ok(found.has(heavy), `runs loads ${heavy}`);
  assert.not.ok(loaded.some((url) => url.includes('/src/inspector/')), 'runs loads the inspector');
});

test('run loads OpenTelemetry\'s SDK and exporters only when OTEL_EXPORTER_OTLP_ENDPOINT is set', async () => {
  const sdk = (found: Set<string>) => [...found].filter((name) => name.startsWith('@opentelemetry/') && name !== '@opentelemetry/api');
  const loadedUrls = await loadedBy(['run', 'examples/demo/agent.ts', '--store', storeUrl]);
  const plain = packages(loadedUrls);
  assert.ok(plain.has('openai'), 'the run ran');
  assert.equal(sdk(plain), []);
  assert.not.ok(plain.has('gpt-tokenizer'), 'a conversation that surely fits its window is not tokenized');
  for (const served of ['hono', '@hono/node-server', '@hono/zod-openapi', 'rate-limiter-flexible']) assert.not.ok(plain.has(served), `run loads ${served}, which only serve needs`);
  assert.not.ok(loadedUrls.some((url) => url.includes('/src/service/')), "run loads the service's code");
  assert.not.ok(plain.has('pg-boss') || plain.has('pg'), 'a run on SQLite loads neither the workers\' queue nor pg');
  // Nothing listens there: the exporters' failure to send changes nothing in how the run ends.
  const exporting = packages(await loadedBy(['run', 'examples/demo/agent.ts', '--store', storeUrl], { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9' }));
  for (const name of ['@opentelemetry/sdk-trace-base', '@opentelemetry/sdk-metrics', '@opentelemetry/exporter-trace-otlp-http']) assert.ok(exporting.has(name), `${name} loaded`);
});

test('serve --help and keys load no package; keys list loads none of the HTTP packages', async () => {
  for (const args of [['serve', '--help'], ['keys', '--help']]) assert.equal([...packages(await loadedBy(args))], [], args.join(' '));
  const listing = await loadedBy(['keys', 'list', '--tenant', 'acme', '--store', storeUrl]);
  assert.ok(listing.some((url) => url.endsWith('/cli/keysCommand.js')), 'the listing ran');
  for (const served of ['hono', '@hono/node-server', '@hono/zod-openapi', 'rate-limiter-flexible', 'openai', 'xstate']) assert.not.ok(packages(listing).has(served), `keys list loads ${served}`);
});

test.run();
