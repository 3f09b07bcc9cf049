// What package.json asks a user to install is what the shipped code imports: every dependency and peer
// is imported by something in src/ or machines/, every package they import is declared, and the
// optional peers are loaded only when used.
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import ts from 'typescript';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const exec = promisify(execFile);
const root = resolve(import.meta.dirname, '..');
const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
  peerDependencies: Record<string, string>;
  peerDependenciesMeta: Record<string, { optional?: boolean }>;
  devDependencies: Record<string, string>;
};

interface Imported {
  file: string;
  specifier: string;
}

/** `import`, `require` or `createRequire(...)`. */
const isLoader = (callee: ts.Expression): boolean =>
  callee.kind === ts.SyntaxKind.ImportKeyword ||
  (ts.isIdentifier(callee) && callee.text === 'require') ||
  (ts.isCallExpression(callee) && ts.isIdentifier(callee.expression) && callee.expression.text === 'createRequire');

/** Every module specifier in a file: static imports and re-exports, `import()`, `require()` and `typeof import()`. */
function importsOf(file: string): Imported[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const found: Imported[] = [];
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      found.push({ file, specifier: node.moduleSpecifier.text });
    } else if (ts.isCallExpression(node) && isLoader(node.expression)) {
      const [argument] = node.arguments;
      if (argument && ts.isStringLiteralLike(argument)) found.push({ file, specifier: argument.text });
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      found.push({ file, specifier: node.argument.literal.text });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

const packageOf = (specifier: string): string | undefined => {
  if (specifier.startsWith('.') || specifier.startsWith('/') || specifier.startsWith('node:') || builtinModules.includes(specifier)) return undefined;
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
};

const shipped = ['src', 'machines'].flatMap((dir) =>
  readdirSync(join(root, dir), { recursive: true, encoding: 'utf8' })
    .filter((path) => /\.(ts|mts|cts|js|mjs|cjs)$/.test(path) && !path.endsWith('.d.ts'))
    .map((path) => join(dir, path)),
);
const imports = shipped.flatMap((path) => importsOf(join(root, path)).map((found) => ({ ...found, file: path })));
const imported = new Set(imports.flatMap(({ specifier }) => packageOf(specifier) ?? []));

test('the shipped code was read', () => {
  assert.ok(shipped.includes('src/index.ts') && shipped.includes('machines/agentMachine.ts'));
  assert.ok(imported.has('xstate') && imported.has('zod'), 'imports were found');
});

test('every dependency and peer dependency is imported by something in src/ or machines/', () => {
  const declared = [...Object.keys(manifest.dependencies), ...Object.keys(manifest.peerDependencies)];
  assert.equal(declared.filter((name) => !imported.has(name)), [], 'declared but imported by nothing');
});

test('every package src/ or machines/ imports is a dependency or a peer dependency', () => {
  const declared = new Set([...Object.keys(manifest.dependencies), ...Object.keys(manifest.peerDependencies), 'statecraft']);
  const undeclared = imports.filter(({ specifier }) => {
    const name = packageOf(specifier);
    return name !== undefined && !declared.has(name);
  });
  assert.equal(undeclared.map(({ file, specifier }) => `${file}: ${specifier}`), []);
});

test('every peer dependency is optional and also a dev dependency, so the tests have it', () => {
  for (const name of Object.keys(manifest.peerDependencies)) {
    assert.is(manifest.peerDependenciesMeta[name]?.optional, true, `${name} is an optional peer`);
    assert.is(manifest.devDependencies[name], manifest.peerDependencies[name], `${name} is a dev dependency of the same range`);
    assert.not.ok(name in manifest.dependencies, `${name} is not also a dependency`);
  }
});

test('importing statecraft and statecraft/testing loads none of the optional peers', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'statecraft-peers-'));
  const file = join(dir, 'loaded.txt');
  writeFileSync(file, '');
  const script = "await import('./dist/src/index.js'); await import('./dist/src/testing/index.js');";
  await exec(process.execPath, ['--import', resolve(root, 'test/fixtures/loaded/register.mjs'), '--input-type=module', '-e', script], {
    cwd: root,
    env: { ...process.env, LOADED_MODULES_FILE: file },
  });
  const loaded = readFileSync(file, 'utf8').trim().split('\n');
  assert.ok(loaded.some((url) => url.endsWith('/dist/src/index.js')), 'the library was loaded');
  const packages = new Set(loaded.flatMap((url) => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)?.[1] ?? []));
  assert.ok(packages.has('xstate'), 'the packages it loads were seen');
  assert.equal(Object.keys(manifest.peerDependencies).filter((name) => packages.has(name)), []);
});

test.run();
