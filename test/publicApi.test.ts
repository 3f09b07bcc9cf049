import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as statecraft from '../src/index.ts';

const readme = readFileSync(resolve(import.meta.dirname, '../README.md'), 'utf8');
// Called in the README's text but not Statecraft's: an agent option, JavaScript's module loaders and
// another package's functions.
const notOurs = new Set(['stopWhen', 'require', 'import', 'createBrowserInspector', 'createSkyInspector', 'createWebSocketInspector', 'createInspector']);

test('every function the README calls by name, and every name it imports from statecraft, is exported', () => {
  const named = new Set<string>();
  for (const [, span] of readme.matchAll(/`([^`\n]+)`/g)) {
    for (const [, name] of span!.matchAll(/(?<![.\w])([a-z][A-Za-z0-9]+)\(/g)) if (!notOurs.has(name!)) named.add(name!);
  }
  for (const [, list] of readme.matchAll(/import \{([^}]+)\} from 'statecraft'/g)) {
    for (const name of list!.split(',')) named.add(name.replace(/^\s*type\s+/, '').trim());
  }
  assert.ok(named.has('envCredentials') && named.has('defineAgent'), 'the README was read');
  const missing = [...named].filter((name) => !(name in statecraft));
  assert.equal(missing, [], `named in the README but not exported from src/index.ts: ${missing.join(', ')}`);
});

test.run();
