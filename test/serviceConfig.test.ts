// The service's configuration: flags over the environment over a file over defaults, checked by zod
// with errors that name the setting, where it came from and what was found.
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { UserError } from '../src/errors.ts';
import { defineAgent } from '../src/index.ts';
import { createServer } from '../src/service/createServer.ts';
import { loadServiceConfig } from '../src/service/serviceConfig.ts';
import { rejection } from './fixtures/helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'statecraft-serve-config-'));
const file = join(dir, 'serve.json');
writeFileSync(file, JSON.stringify({ agents: ['a.ts'], port: 1000, separationOfDuties: true, authFailures: { max: 3 } }));

test('flags win over the environment, which wins over the file; unset settings take their defaults', () => {
  const fromFile = loadServiceConfig({ file });
  assert.equal([fromFile.port, fromFile.separationOfDuties, fromFile.authFailures, fromFile.host, fromFile.bodyLimitBytes], [1000, true, { max: 3, windowMs: 60_000 }, '127.0.0.1', 1_048_576]);
  const fromEnv = loadServiceConfig({ file, env: { PORT: '2000', STATECRAFT_AGENTS: 'b.ts, c.ts', STATECRAFT_SEPARATION_OF_DUTIES: 'false', STATECRAFT_ALLOWED_ORIGINS: 'https://a.example,https://b.example' } });
  assert.equal([fromEnv.port, fromEnv.agents, fromEnv.separationOfDuties, fromEnv.allowedOrigins], [2000, ['b.ts', 'c.ts'], false, ['https://a.example', 'https://b.example']]);
  const fromFlags = loadServiceConfig({ file, env: { PORT: '2000' }, flags: { port: 3000, agents: ['d.ts'], host: undefined } });
  assert.equal([fromFlags.port, fromFlags.agents, fromFlags.host], [3000, ['d.ts'], '127.0.0.1']);
});

test('the master key file comes from the flag, STATECRAFT_MASTER_KEY_FILE or the file, and is optional', () => {
  assert.is(loadServiceConfig({ file }).masterKeyFile, undefined);
  assert.is(loadServiceConfig({ file, env: { STATECRAFT_MASTER_KEY_FILE: '/run/keys/env.key' } }).masterKeyFile, '/run/keys/env.key');
  assert.is(loadServiceConfig({ file, env: { STATECRAFT_MASTER_KEY_FILE: '/run/keys/env.key' }, flags: { masterKeyFile: '/run/keys/flag.key' } }).masterKeyFile, '/run/keys/flag.key');
  const error = (() => {
    try {
      loadServiceConfig({ file, flags: { masterKeyFile: '' } });
    } catch (caught) {
      return caught as Error;
    }
  })();
  assert.match(error?.message ?? '', /masterKeyFile \(from --master-key-file\)/);
});

test('limits merge setting by setting from the file, the environment and flags, with per-tenant overrides', () => {
  const limitsFile = join(dir, 'limits.json');
  writeFileSync(limitsFile, JSON.stringify({ agents: ['a.ts'], limits: { tokensPerMinute: 1000, concurrentRuns: 4, tenants: { acme: { usdPerDay: 20 } } } }));
  const config = loadServiceConfig({ file: limitsFile, env: { STATECRAFT_USD_PER_DAY: '2.5', STATECRAFT_CONCURRENT_RUNS: '8' }, flags: { limits: { concurrentRuns: 2 } } });
  assert.equal(config.limits, { tokensPerMinute: 1000, concurrentRuns: 2, usdPerDay: 2.5, tenants: { acme: { usdPerDay: 20 } } });
  assert.equal(loadServiceConfig({ flags: { agents: ['a.ts'] } }).limits, { tenants: {} }, 'no limit unless one is set');
  assert.throws(() => loadServiceConfig({ flags: { agents: ['a.ts'], limits: { tokensPerMinute: 'lots' } } }), /limits\.tokensPerMinute \(from --tokens-per-minute\): .*found "lots"/);
  assert.throws(() => loadServiceConfig({ flags: { agents: ['a.ts'] }, env: { STATECRAFT_REQUESTS_PER_MINUTE: '0' } }), /limits\.requestsPerMinute \(from STATECRAFT_REQUESTS_PER_MINUTE\): .*found 0/);
});

test('an invalid setting is refused naming it, its source and the value found', () => {
  const error = (() => {
    try {
      loadServiceConfig({ file, env: { STATECRAFT_PORT: 'eighty' }, flags: { logLevel: 'loud' } });
    } catch (caught) {
      return caught as Error;
    }
    throw new Error('expected a refusal');
  })();
  assert.instance(error, UserError);
  assert.match(error.message, /port \(from STATECRAFT_PORT\): .*number.*, found "eighty"/);
  assert.match(error.message, /logLevel \(from --log-level\): .*found "loud"/);
  writeFileSync(join(dir, 'broken.json'), '{ "agents": [');
  assert.throws(() => loadServiceConfig({ file: join(dir, 'broken.json') }), /The service configuration file .*broken\.json is not a JSON object/);
  assert.throws(() => loadServiceConfig({ file: join(dir, 'missing.json') }), /Could not read the service configuration file .*missing\.json/);
});

test('createServer checks its options before it opens anything', async () => {
  const agent = defineAgent({ name: 'idle' });
  const port = await rejection(createServer({ agents: [agent], port: -1, store: `sqlite:${join(dir, 'never.db')}` }));
  assert.instance(port, UserError);
  assert.match((port as Error).message, /createServer got an invalid option port: /);
  assert.match(((await rejection(createServer({ agents: [] }))) as Error).message, /needs at least one agent to serve/);
  assert.match(((await rejection(createServer({ agents: [agent], store: 'memory:' }))) as Error).message, /cannot keep its API keys and tenants in a memory: store/);
  assert.not.ok(existsSync(join(dir, 'never.db')), 'no store was made');
});

test.run();
