import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { UserError } from '../src/errors.ts';
import { importPeer } from '../src/importPeer.ts';

async function refusal(load: Promise<unknown>): Promise<Error> {
  try {
    await load;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the import to fail');
}

test('an installed peer is imported as it is', async () => {
  const { default: pg } = await importPeer(() => import('pg'), 'pg', 'PostgreSQL stores need');
  assert.type(pg.Pool, 'function');
});

test('a missing peer is a UserError that names what needs it and the command that installs it', async () => {
  const name = 'statecraft-absent-peer';
  const error = await refusal(importPeer(() => import(name), name, 'Reports need'));
  assert.instance(error, UserError);
  assert.is(error.message, `Reports need the ${name} package, which is not installed. Install it with: npm install ${name}`);
  assert.is((error.cause as { code?: string }).code, 'ERR_MODULE_NOT_FOUND');
});

test('a missing subpath of a missing scoped peer names the package, and the install command may be given', async () => {
  const name = '@statecraft-absent/peer';
  const error = await refusal(importPeer(() => import(`${name}/client/index.js`), name, 'Clients need', `npm install --save-dev ${name}`));
  assert.instance(error, UserError);
  assert.match(error.message, `Install it with: npm install --save-dev ${name}`);
});

test('any other failure to load a peer is thrown as it is', async () => {
  const broken = new Error('the module threw while it loaded');
  assert.is(await refusal(importPeer(() => Promise.reject(broken), 'pg', 'PostgreSQL stores need')), broken);
  // Another package missing (one the peer imports in turn) is not the peer missing.
  const inner = Object.assign(new Error("Cannot find package 'pg-pool' imported from /x/node_modules/pg/lib/index.js"), { code: 'ERR_MODULE_NOT_FOUND' });
  assert.is(await refusal(importPeer(() => Promise.reject(inner), 'pg', 'PostgreSQL stores need')), inner);
});

test.run();
