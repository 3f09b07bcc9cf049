// Compiles src/ and machines/ to dist/ (ESM JavaScript, .d.ts and source maps), copies the
// inspector's page, which is served as it is, and the CommonJS entry point.
import { cpSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
rmSync(dist, { recursive: true, force: true });
execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit', cwd: root });
cpSync(join(root, 'src/inspector/page'), join(dist, 'src/inspector/page'), { recursive: true });
cpSync(join(root, 'src/require.cjs'), join(dist, 'src/require.cjs'));

// tsc rewrites `./x.ts` to `./x.js` in the JavaScript it emits but not in declarations, and a
// declaration that imports `./x.ts` names a file the package does not ship to a consumer's tsc.
const relativeTs = /((?:from|import)\s*\(?\s*['"]\.{1,2}\/[^'"]*?)\.(m?)ts(['"])/g;
for (const entry of readdirSync(dist, { recursive: true, withFileTypes: true })) {
  if (!entry.isFile() || !entry.name.endsWith('.d.ts')) continue;
  const file = join(entry.parentPath, entry.name);
  const text = readFileSync(file, 'utf8');
  const rewritten = text.replace(relativeTs, '$1.$2js$3');
  if (rewritten !== text) writeFileSync(file, rewritten);
}
