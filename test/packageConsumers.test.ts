// The package as a user gets it: `npm pack`, installed from the tarball into new projects outside the
// repository, each running an agent against the scripted server on loopback.
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SqliteStore } from '../src/log/stores/sqlite/sqliteStore.ts';
import { startScriptedServer, type Script } from '../src/testing/index.ts';
import { OTLP_PACKAGES } from '../src/cli/otlpExport.ts';
import { startOtlpReceiver } from './fixtures/otlpReceiver.ts';

const root = resolve(import.meta.dirname, '..');
const work = mkdtempSync(join(tmpdir(), 'statecraft-consumers-'));
const jsProject = join(work, 'js');
const tsProject = join(work, 'ts');

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

// npm hands its scripts npm_* variables (the repository's prefix among them) that would steer the
// projects' own npm, and the model variables of the machine must not reach the scripted runs.
const cleanEnv = (): NodeJS.ProcessEnv =>
  Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(npm_|OPENAI_|STATECRAFT_)/i.test(name)));

function sh(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}, timeout = 300_000): Promise<Outcome> {
  return new Promise((done) => {
    execFile(command, args, { cwd, env: { ...cleanEnv(), NO_COLOR: '1', ...env }, timeout, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      done({ code, stdout, stderr });
    });
  });
}

const must = async (what: string, outcome: Promise<Outcome>): Promise<Outcome> => {
  const result = await outcome;
  if (result.code !== 0) throw new Error(`${what} exited ${result.code}:\n${result.stdout}\n${result.stderr}`);
  return result;
};

const npm = (cwd: string, ...args: string[]) => sh('npm', [...args, '--no-audit', '--no-fund', '--prefer-offline'], cwd);

/** The README's code blocks that an HTML comment `<!-- sample: NAME -->` names, by file name. */
function readmeSamples(): Map<string, string> {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const samples = new Map<string, string>();
  for (const match of readme.matchAll(/<!-- sample: (\S+) -->\n```\w+\n([\s\S]*?)\n```/g)) samples.set(match[1]!, match[2]!);
  return samples;
}

// The README leaves these to the reader in its samples; they are declared here with the types it implies.
const readmeDeclarations = `declare function fetchWeather(city: string, unit: 'C' | 'F', signal: AbortSignal): Promise<{ temperature: number }>;
declare function send(message: { to: string; body: string }, password: string): Promise<void>;
`;

// Each check fails to compile if the type it relies on resolved to any.
const typesResolve = `import { z } from 'zod';
import { defineTool, openStore, type RunResult, type RunStore } from 'statecraft';
import { startScriptedServer, type Script } from 'statecraft/testing';

defineTool({
  name: 'echo',
  description: 'Echo the text.',
  parameters: z.object({ text: z.string() }),
  execute: async ({ text }) => {
    // @ts-expect-error the argument is a string, from the schema
    const wrong: number = text;
    return wrong;
  },
});
export const store: RunStore = openStore('memory:');
// @ts-expect-error a status is one of a few names
export const status: RunResult['status'] = 'finished';
export const script: Script = [{ content: 'Hello.' }];
export const server = startScriptedServer(script);
`;

const calculatorScript = (): Script => [
  { toolCalls: [{ name: 'add', arguments: { a: 2, b: 3 } }], usage: { inputTokens: 40, outputTokens: 8 } },
  {
    content: 'The sum is 5.',
    usage: { inputTokens: 60, outputTokens: 6 },
    expect: ({ messages }) => assert.equal(messages.filter((m) => m.role === 'tool').map((m) => m.content), ['{"sum":5}']),
  },
];

async function recordedRuns(project: string) {
  const store = new SqliteStore({ path: join(project, '.statecraft/runs.db'), mustExist: true });
  try {
    return await store.listRuns();
  } finally {
    await store.close();
  }
}

interface PackReport {
  filename: string;
  files: Array<{ path: string }>;
}
let packedFiles: string[] = [];

test.before(async () => {
  if (!existsSync(join(root, 'dist/src/index.js'))) throw new Error('dist/ is missing: run `npm run build` first (npm test builds before it runs).');
  // `npm test` has just built dist/ (pretest), so the pack skips prepack's second build of it.
  const packed = await must('npm pack', sh('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], root));
  const pack = (JSON.parse(packed.stdout) as PackReport[])[0]!;
  packedFiles = pack.files.map((file) => file.path);
  const tarball = join(work, pack.filename);
  await offerSqliteBinary();
  // The steps the README's install section gives, in the same order.
  const setUp = async (project: string) => {
    mkdirSync(project);
    await must('npm init -y', sh('npm', ['init', '-y'], project));
    await must('npm pkg set type=module', sh('npm', ['pkg', 'set', 'type=module'], project));
    await must(`npm install in ${project}`, npm(project, 'install', tarball, 'zod'));
  };
  await Promise.all([
    setUp(jsProject),
    setUp(tsProject)
      .then(() => must('npm install --save-dev in the TypeScript project', npm(tsProject, 'install', '--save-dev', 'typescript', 'tsx', '@types/node')))
      .then(() => must('tsc --init', sh('npx', ['tsc', '--init'], tsProject))),
  ]);
});

test.after(() => rmSync(work, { recursive: true, force: true }));

/**
 * better-sqlite3 downloads a prebuilt binary when it installs, or compiles SQLite for minutes when it
 * cannot. Its installer takes a local prebuild from a folder named in `.prebuild-installrc`, found from
 * the projects' folders upwards: the binary this repository's install built or fetched, for the same
 * version and Node ABI (another version misses it and builds its own).
 */
async function offerSqliteBinary(): Promise<void> {
  const binary = join(root, 'node_modules/better-sqlite3/build/Release/better_sqlite3.node');
  if (!existsSync(binary)) return;
  const { version } = JSON.parse(readFileSync(join(root, 'node_modules/better-sqlite3/package.json'), 'utf8')) as { version: string };
  const staging = join(work, 'prebuild');
  mkdirSync(join(staging, 'build/Release'), { recursive: true });
  copyFileSync(binary, join(staging, 'build/Release/better_sqlite3.node'));
  const prebuilds = join(work, 'prebuilds');
  mkdirSync(prebuilds);
  const name = `better-sqlite3-v${version}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`;
  await must('tar', sh('tar', ['-czf', join(prebuilds, name), '-C', staging, 'build'], work));
  writeFileSync(join(work, '.prebuild-installrc'), `local-prebuilds=${prebuilds}\n`);
}

test('the tarball ships the build, the CLI, the sources its maps point at, README and LICENSE, and no tests', () => {
  const files = packedFiles;
  for (const path of ['bin/statecraft.js', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/require.cjs', 'dist/src/cli/main.js', 'dist/src/inspector/page/index.html', 'LICENSE', 'README.md']) {
    assert.ok(files.includes(path), `the tarball holds ${path}`);
  }
  assert.equal(files.filter((path) => /^(test|bench|examples|scripts)\/|\.test\./.test(path)), []);
  assert.equal(files.filter((path) => path.startsWith('src/inspector/page/')), [], 'the page ships once, in dist/');
  // Source and declaration maps lead a debugger and an editor's "go to definition" to shipped sources.
  const maps = files.filter((path) => path.endsWith('.map'));
  assert.ok(maps.length > 100, 'the build has source maps');
  const shipped = new Set(files);
  const missing = maps.flatMap((map) => {
    const { sources } = JSON.parse(readFileSync(join(root, map), 'utf8')) as { sources: string[] };
    return sources.map((source) => relative(root, resolve(root, dirname(map), source))).filter((source) => !shipped.has(source));
  });
  assert.equal(missing, []);
});

test('a JavaScript ES module project runs the README program and records the run in SQLite, without tsx', async () => {
  // Statecraft must not need tsx to run: whether or not it came with the install, it is taken away.
  rmSync(join(jsProject, 'node_modules/tsx'), { recursive: true, force: true });
  const app = readmeSamples().get('app.js');
  assert.ok(app, 'the README has the app.js sample');
  writeFileSync(join(jsProject, 'app.js'), app);
  const server = await startScriptedServer(calculatorScript());
  try {
    const { stdout } = await must('node app.js', sh(process.execPath, ['app.js'], jsProject, { OPENAI_BASE_URL: server.url, OPENAI_API_KEY: 'test' }, 60_000));
    assert.is(stdout.trim(), 'done The sum is 5.');
    server.assertDone();
  } finally {
    await server.close();
  }
  const runs = await recordedRuns(jsProject);
  assert.equal(runs.map((run) => [run.agentId, run.status]), [['calculator', 'done']]);
  const listed = await must('npx statecraft runs', sh('npx', ['statecraft', 'runs'], jsProject));
  assert.match(listed.stdout, 'calculator');
});

// What the library and the CLI do when an optional peer is asked for and is not there.
const withoutPeers = `import { connectMcp, openStore, UserError } from 'statecraft';

const store = openStore('postgres://127.0.0.1:9/statecraft');
const attempts = [() => store.listRuns(), () => connectMcp({ name: 'fs', transport: { type: 'stdio', command: 'true' } })];
for (const attempt of attempts) {
  try {
    await attempt();
    console.log('no error');
  } catch (error) {
    console.log(error instanceof UserError ? 'UserError' : 'other error', error.message);
  }
}
await store.close();
`;

test('an install brings none of the optional peers: pg, the MCP SDK, tsx', () => {
  for (const peer of ['pg', '@modelcontextprotocol/sdk', 'tsx']) {
    assert.not.ok(existsSync(join(jsProject, 'node_modules', peer)), `${peer} came with the install`);
  }
});

test('without pg, a postgres:// store says to install it, in the CLI and the library; without the MCP SDK, connectMcp does', async () => {
  const listed = await sh('npx', ['statecraft', 'runs', '--store', 'postgres://127.0.0.1:9/statecraft'], jsProject);
  assert.is(listed.code, 2, listed.stdout + listed.stderr);
  assert.match(listed.stderr, 'PostgreSQL stores need the pg package, which is not installed. Install it with: npm install pg');
  writeFileSync(join(jsProject, 'withoutPeers.js'), withoutPeers);
  const { stdout } = await must('node withoutPeers.js', sh(process.execPath, ['withoutPeers.js'], jsProject));
  assert.equal(stdout.trim().split('\n'), [
    'UserError PostgreSQL stores need the pg package, which is not installed. Install it with: npm install pg',
    'UserError MCP tools need the @modelcontextprotocol/sdk package, which is not installed. Install it with: npm install @modelcontextprotocol/sdk',
  ]);
});

test('the CLI runs a JavaScript agent without tsx, and for a TypeScript one says to install it', async () => {
  // The README's agent.ts has no type annotations: as agent.js it is the same agent in JavaScript.
  const agent = readmeSamples().get('agent.ts')!;
  writeFileSync(join(jsProject, 'agent.js'), agent);
  writeFileSync(join(jsProject, 'agent.ts'), agent);
  const server = await startScriptedServer(calculatorScript());
  try {
    const env = { OPENAI_BASE_URL: server.url, OPENAI_API_KEY: 'test' };
    const { stdout } = await must('npx statecraft run agent.js', sh('npx', ['statecraft', 'run', 'agent.js', '--input', 'What is 2 + 3?'], jsProject, env, 60_000));
    assert.match(stdout, 'The sum is 5.');
    server.assertDone();
    const refused = await sh('npx', ['statecraft', 'run', 'agent.ts', '--input', 'What is 2 + 3?'], jsProject, env, 60_000);
    assert.is(refused.code, 2);
    assert.match(refused.stderr, 'npm install --save-dev tsx');
    assert.is(server.requests.length, 2, 'the refused agent called no model');
  } finally {
    await server.close();
  }
});

test('with OTEL_EXPORTER_OTLP_ENDPOINT set the CLI names the OpenTelemetry packages to install, and once they are, exports the run there', async () => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8').replace(/\\\n\s*/g, '');
  assert.ok(readme.includes(`npm install ${OTLP_PACKAGES.join(' ')}`), 'the README gives the same install');
  writeFileSync(join(jsProject, 'agent.js'), readmeSamples().get('agent.ts')!);
  const server = await startScriptedServer(calculatorScript());
  const receiver = await startOtlpReceiver();
  try {
    const env = { OPENAI_BASE_URL: server.url, OPENAI_API_KEY: 'test', OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url };
    const refused = await sh('npx', ['statecraft', 'run', 'agent.js', '--input', 'What is 2 + 3?'], jsProject, env, 60_000);
    assert.is(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, `npm install ${OTLP_PACKAGES.join(' ')}`);
    assert.is(server.requests.length, 0, 'no model was called');
    await must('npm install the OpenTelemetry SDK', npm(jsProject, 'install', ...OTLP_PACKAGES));
    await must('npx statecraft run agent.js, exporting', sh('npx', ['statecraft', 'run', 'agent.js', '--input', 'What is 2 + 3?'], jsProject, env, 60_000));
    assert.equal(receiver.spans.map((span) => span.name).sort(), ['chat gpt-4o-mini', 'chat gpt-4o-mini', 'execute_tool add', 'invoke_agent calculator']);
    server.assertDone();
  } finally {
    await Promise.all([server.close(), receiver.close()]);
  }
});

test('the README command that allows better-sqlite3 its install script is one npm takes', async () => {
  if ((await sh('npm', ['install-scripts', '--help'], jsProject)).code !== 0) return; // an npm before allowScripts
  await must('npm install-scripts approve better-sqlite3', sh('npm', ['install-scripts', 'approve', 'better-sqlite3'], jsProject));
  const { allowScripts } = JSON.parse(readFileSync(join(jsProject, 'package.json'), 'utf8')) as { allowScripts?: Record<string, boolean> };
  assert.ok(Object.entries(allowScripts ?? {}).some(([name, allowed]) => name.startsWith('better-sqlite3') && allowed));
});

test("CommonJS require('statecraft') loads it on this Node, and where require cannot load ES modules says what to do", async () => {
  writeFileSync(join(jsProject, 'load.cjs'), "const { defineAgent, startRun } = require('statecraft');\nconsole.log(typeof defineAgent, typeof startRun);\n");
  if (process.features.require_module) {
    const { stdout } = await must('node load.cjs', sh(process.execPath, ['load.cjs'], jsProject));
    assert.is(stdout.trim(), 'function function');
  }
  // Node.js 20.15 to 20.18 cannot require an ES module; later versions refuse so with this flag.
  const older = process.features.require_module ? ['--no-experimental-require-module'] : [];
  const refused = await sh(process.execPath, [...older, 'load.cjs'], jsProject);
  assert.is(refused.code, 1);
  assert.match(refused.stderr, "statecraft is an ES module, and this Node.js");
  assert.match(refused.stderr, "await import('statecraft')");
  assert.match(refused.stderr, 'Node.js 20.19 or later');
});

test('a TypeScript project made by tsc --init compiles the README samples with no error', async () => {
  assert.match(readFileSync(join(tsProject, 'tsconfig.json'), 'utf8'), /^\s*"strict": true/m, 'tsc --init made a strict project');
  const samples = [...readmeSamples()].filter(([name]) => name.endsWith('.ts'));
  assert.ok(samples.length >= 2, 'the README marks its TypeScript samples');
  for (const [name, code] of samples) writeFileSync(join(tsProject, name), code);
  writeFileSync(join(tsProject, 'readmeDeclarations.d.ts'), readmeDeclarations);
  writeFileSync(join(tsProject, 'typesResolve.ts'), typesResolve);
  const checked = await sh('npx', ['tsc', '--noEmit'], tsProject);
  assert.equal(checked.stdout.split('\n').filter((line) => /error TS\d+/.test(line)), [], 'tsc reports no error');
  assert.is(checked.code, 0, checked.stderr);
  // Its defaults skip checking declaration files; Statecraft's own must hold up without that.
  const libraries = await sh('npx', ['tsc', '--noEmit', '--skipLibCheck', 'false'], tsProject);
  const ours = libraries.stdout.split('\n').filter((line) => line.startsWith('node_modules/statecraft/'));
  assert.equal(ours, [], "Statecraft's declarations check clean");
  // A declaration that imports `./x.ts` names a file that is not there to a consumer's tsc.
  const declarations = readdirSync(join(tsProject, 'node_modules/statecraft/dist'), { recursive: true, encoding: 'utf8' }).filter((path) => path.endsWith('.d.ts'));
  assert.ok(declarations.length > 50, 'the declarations are installed');
  const tsImports = declarations.filter((path) =>
    /(?:from|import)\s*\(?\s*['"]\.{1,2}\/[^'"]*\.m?ts['"]/.test(readFileSync(join(tsProject, 'node_modules/statecraft/dist', path), 'utf8')),
  );
  assert.equal(tsImports, [], 'declarations import .js paths');
});

test('npx statecraft run agent.ts runs the README agent through tsx and records it', async () => {
  const server = await startScriptedServer(calculatorScript());
  try {
    const { stdout } = await must(
      'npx statecraft run agent.ts',
      sh('npx', ['statecraft', 'run', 'agent.ts', '--input', 'What is 2 + 3?'], tsProject, { OPENAI_BASE_URL: server.url, OPENAI_API_KEY: 'test' }, 60_000),
    );
    assert.match(stdout, 'The sum is 5.');
    server.assertDone();
  } finally {
    await server.close();
  }
  const runs = await recordedRuns(tsProject);
  assert.equal(runs.map((run) => [run.agentId, run.status, run.steps > 0]), [['calculator', 'done', true]]);
});

test.run();
