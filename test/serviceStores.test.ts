// One conformance suite for the service's tables (keys, tenants, run ownership), run against SQLite
// and PostgreSQL, each beside a run store in the same database as the service keeps them.
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { UserError } from '../src/errors.ts';
import { RUN_FORMAT, type RunHeader } from '../src/log/format/record.ts';
import { openStore } from '../src/log/stores/openStore.ts';
import { newRunSummary, type RunStore } from '../src/log/stores/runStore.ts';
import { createApiKey, isRefusal, verifyApiKey } from '../src/service/auth/apiKeys.ts';
import { openServiceStore } from '../src/service/store/openServiceStore.ts';
import type { ServiceStore, StoredSecret } from '../src/service/store/ServiceStore.ts';
import { rejection } from './fixtures/helpers.ts';

const PG_URL = process.env.STATECRAFT_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

interface Backing {
  runs: RunStore;
  service: ServiceStore;
  dispose(): Promise<void>;
}

const sqlite = async (): Promise<Backing> => {
  const url = `sqlite:${join(mkdtempSync(join(tmpdir(), 'statecraft-service-store-')), 'runs.db')}`;
  const runs = openStore(url);
  const service = openServiceStore(url);
  return { runs, service, dispose: async () => (await service.close(), await runs.close()) };
};

const postgres = async (): Promise<Backing> => {
  const schema = `svc_${randomBytes(6).toString('hex')}`;
  const url = `${PG_URL}?schema=${schema}`;
  const runs = openStore(url);
  await runs.listRuns({ limit: 1 });
  const service = openServiceStore(url);
  return {
    runs,
    service,
    dispose: async () => {
      await service.close();
      await runs.close();
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      await client.query(`DROP SCHEMA "${schema}" CASCADE`);
      await client.end();
    },
  };
};

const header = (runId: string, agent = 'helper', parent?: { runId: string; seq: number }): RunHeader => ({
  format: RUN_FORMAT,
  runId,
  agent: { id: agent, version: '1' },
  machine: { id: 'agent', hash: 'h' },
  model: { provider: 'test', model: 'm', params: {} },
  createdAt: new Date().toISOString(),
  ...(parent ? { parent } : {}),
});

async function ownedRun(b: Backing, tenantId: string, runId: string, options: { agent?: string; status?: 'running' | 'done'; parent?: string; thread?: string } = {}) {
  const h = header(runId, options.agent, options.parent ? { runId: options.parent, seq: 0 } : undefined);
  await b.service.claimRun({ runId, tenantId, createdByKey: 'k', createdAt: new Date().toISOString(), ...(options.thread ? { thread: options.thread } : {}) });
  await b.runs.createRun(h, { ...newRunSummary(h), status: options.status ?? 'running' });
}

for (const [name, open] of [['sqlite', sqlite], ['postgres', postgres]] as const) {
  const it = suite(name);
  let b: Backing;
  it.before.each(async () => {
    b = await open();
  });
  it.after.each(async () => {
    await b.dispose();
  });

  it('a created key is stored hashed, verifies, and is listed for its tenant only', async () => {
    const { key, record } = await createApiKey(b.service, { tenantId: 'acme', name: 'ci', scopes: ['runs:read', 'runs:create'] });
    assert.match(key, /^sck_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    const stored = await b.service.key(record.keyId);
    assert.ok(stored && !JSON.stringify(stored).includes(key.slice(22)), 'the secret is not stored');
    const verified = await verifyApiKey(b.service, key);
    assert.not.ok(isRefusal(verified));
    assert.equal(isRefusal(verified) ? [] : verified.scopes, ['runs:read', 'runs:create']);
    await createApiKey(b.service, { tenantId: 'globex', scopes: ['admin'] });
    assert.equal((await b.service.listKeys('acme')).map((k) => k.keyId), [record.keyId]);
  });

  it('a wrong secret reads as unknown; revoked and expired keys are refused as such', async () => {
    const { key, record } = await createApiKey(b.service, { tenantId: 'acme', scopes: ['runs:read'] });
    const forged = `${key.slice(0, -3)}${key.endsWith('AAA') ? 'BBB' : 'AAA'}`;
    assert.equal(await verifyApiKey(b.service, forged), { reason: 'unknown', keyId: record.keyId });
    assert.is(await b.service.revokeKey('globex', record.keyId, new Date().toISOString()), false, 'another tenant cannot revoke it');
    assert.is(await b.service.revokeKey('acme', record.keyId, '2026-01-01T00:00:00.000Z'), true);
    assert.is(await b.service.revokeKey('acme', record.keyId, '2026-02-01T00:00:00.000Z'), true);
    const revoked = await verifyApiKey(b.service, key);
    assert.equal(revoked, { reason: 'revoked', keyId: record.keyId, at: '2026-01-01T00:00:00.000Z' });
    const soon = await createApiKey(b.service, { tenantId: 'acme', scopes: ['runs:read'], expiresAt: new Date(Date.now() + 60_000) });
    const later = await verifyApiKey(b.service, soon.key, new Date(Date.now() + 120_000));
    assert.is(isRefusal(later) && later.reason, 'expired');
  });

  it('a run belongs to one tenant: another tenant neither finds it nor can claim its id', async () => {
    await ownedRun(b, 'acme', 'r1', { thread: 'chat-9' });
    assert.equal(await b.service.runOf('acme', 'r1'), { runId: 'r1', tenantId: 'acme', createdByKey: 'k', createdAt: (await b.service.runOf('acme', 'r1'))!.createdAt, thread: 'chat-9' });
    assert.is(await b.service.runOf('globex', 'r1'), undefined);
    const error = await rejection(b.service.claimRun({ runId: 'r1', tenantId: 'globex', createdByKey: 'k2', createdAt: new Date().toISOString() }));
    assert.instance(error, UserError);
    assert.is((await b.service.runOf('acme', 'r1'))?.tenantId, 'acme');
  });

  it('listing pages through a tenant\'s runs newest first, filtered, never another tenant\'s', async () => {
    for (let i = 0; i < 5; i++) await ownedRun(b, 'acme', `a${i}`, { agent: i % 2 ? 'odd' : 'even', status: i === 4 ? 'done' : 'running' });
    await ownedRun(b, 'globex', 'g0', { agent: 'even', thread: 'shared-name' });
    await ownedRun(b, 'acme', 'a5', { thread: 'shared-name' });
    await ownedRun(b, 'acme', 'fork', { parent: 'a0' });
    const first = await b.service.listRuns('acme', { limit: 4 });
    assert.equal(first.runs.map((run) => run.runId), ['fork', 'a5', 'a4', 'a3']);
    const second = await b.service.listRuns('acme', { limit: 4, ...(first.next ? { after: first.next } : {}) });
    assert.equal(second.runs.map((run) => run.runId), ['a2', 'a1', 'a0']);
    assert.equal((await b.service.listRuns('acme', { limit: 10, thread: 'shared-name' })).runs.map((run) => run.runId), ['a5']);
    assert.is(second.next, undefined);
    assert.equal((await b.service.listRuns('acme', { limit: 10, agentId: 'even' })).runs.map((run) => run.runId), ['a4', 'a2', 'a0']);
    assert.equal((await b.service.listRuns('acme', { limit: 10, status: ['done'] })).runs.map((run) => run.runId), ['a4']);
    assert.equal((await b.service.listRuns('acme', { limit: 10, parentRunId: 'a0' })).runs.map((run) => run.runId), ['fork']);
    assert.equal((await b.service.listRuns('globex', { limit: 10 })).runs.map((run) => run.runId), ['g0']);
  });

  it('a secret is stored sealed, versioned per tenant and name, listed without its value, and deleted', async () => {
    const sealed = { keyId: 'k1', wrappedKey: 'v1.wrapped', ciphertext: 'v1.cipher' };
    const first = await b.service.putSecret('acme', 'token', sealed, '2026-01-01T00:00:00.000Z');
    assert.equal(first, { name: 'token', version: 1, createdAt: '2026-01-01T00:00:00.000Z', updatedAt: '2026-01-01T00:00:00.000Z', keyId: 'k1' });
    const second = await b.service.putSecret('acme', 'token', { ...sealed, ciphertext: 'v1.other' }, '2026-01-02T00:00:00.000Z');
    assert.equal([second.version, second.createdAt, second.updatedAt], [2, '2026-01-01T00:00:00.000Z', '2026-01-02T00:00:00.000Z']);
    assert.is((await b.service.putSecret('globex', 'token', sealed, '2026-01-03T00:00:00.000Z')).version, 1, "another tenant's name is its own");
    assert.equal(await b.service.secret('acme', 'token'), { ...second, tenantId: 'acme', wrappedKey: 'v1.wrapped', ciphertext: 'v1.other' });
    assert.is(await b.service.secret('acme', 'nothing'), undefined);
    assert.equal((await b.service.listSecrets('acme')).map((secret) => Object.keys(secret).sort()), [['createdAt', 'keyId', 'name', 'updatedAt', 'version']]);
    assert.is(await b.service.deleteSecret('globex', 'nothing'), false);
    assert.is(await b.service.deleteSecret('globex', 'token'), true);
    assert.equal(await b.service.listSecrets('globex'), []);
    assert.equal((await b.service.listSecrets('acme')).map((secret) => secret.name), ['token'], "deleting one tenant's secret leaves the other's");
  });

  it('a rotation finds the secrets another key wraps, and re-wraps a row only while it is the one read', async () => {
    const at = new Date().toISOString();
    await b.service.putSecret('acme', 'a', { keyId: 'old', wrappedKey: 'v1.a', ciphertext: 'v1.ca' }, at);
    await b.service.putSecret('globex', 'b', { keyId: 'old', wrappedKey: 'v1.b', ciphertext: 'v1.cb' }, at);
    await b.service.putSecret('globex', 'c', { keyId: 'new', wrappedKey: 'v1.c', ciphertext: 'v1.cc' }, at);
    const stale = await b.service.secretsNotWrappedBy('new');
    assert.equal(stale.map((secret) => `${secret.tenantId}/${secret.name}`), ['acme/a', 'globex/b']);
    const [a, bee] = stale as [StoredSecret, StoredSecret];
    assert.is(await b.service.rewrapSecret(a, { keyId: 'new', wrappedKey: 'v1.a2', ciphertext: a.ciphertext }), true);
    assert.equal(await b.service.secret('acme', 'a'), { ...a, keyId: 'new', wrappedKey: 'v1.a2' });
    await b.service.putSecret('globex', 'b', { keyId: 'new', wrappedKey: 'v1.b-set', ciphertext: 'v1.cb-set' }, at);
    assert.is(await b.service.rewrapSecret(bee, { keyId: 'new', wrappedKey: 'v1.b2', ciphertext: bee.ciphertext }), false, 'a value set meanwhile is kept');
    assert.is((await b.service.secret('globex', 'b'))?.ciphertext, 'v1.cb-set');
    assert.equal(await b.service.secretsNotWrappedBy('new'), []);
  });

  it.run();
}
