#!/usr/bin/env node
// --version needs nothing but the package's manifest, one folder up: it answers before the CLI loads.
const flag = process.argv[2];
if (flag === '--version' || flag === '-v') {
  const { readFileSync } = await import('node:fs');
  process.stdout.write(`${JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version}\n`);
} else {
  await import('../dist/src/cli/main.js');
}
