// Who may read and act through the inspector: tokens decided by the bound address, Origin checks on every change.
import { existsSync } from 'node:fs';
import { missing } from './fixtures/missing.ts';
import { request } from 'node:http';
import { networkInterfaces } from 'node:os';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { z } from 'zod';
import { UserError } from '../src/errors.ts';
import { defineAgent, defineTool, startRun } from '../src/index.ts';
import { startInspector, type Inspector, type InspectorActions, type InspectorOptions } from '../src/inspector/startInspector.ts';
import { MemoryStore } from '../src/log/stores/memoryStore.ts';
import { scriptedModel } from '../src/testing/index.ts';

const store = new MemoryStore();
const calls: string[] = [];
const actions: InspectorActions = {
  approve: async (runId, callId) => void calls.push(`approve ${runId} ${callId}`),
  reject: async (runId, callId) => void calls.push(`reject ${runId} ${callId}`),
  fork: async (runId) => (calls.push(`fork ${runId}`), 'forked'),
};

const opened: Inspector[] = [];
const open = async (options: Omit<InspectorOptions, 'store'>) => {
  const inspector = await startInspector({ store, actions, ...options });
  opened.push(inspector);
  return inspector;
};
test.after(async () => {
  for (const inspector of opened) await inspector.close();
});

interface Sent {
  method?: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
  /** Where the TCP connection goes; the Host header is whatever `headers.host` says. */
  to?: string;
}

/** A raw HTTP request with exactly the headers given, as a non-browser client or a hostile page could send. */
const send = (inspector: Inspector, { method = 'GET', path, headers = {}, body, to }: Sent) =>
  new Promise<{ status: number; text: string; json: any }>((resolve, reject) => {
    const url = new URL(inspector.url);
    const req = request({ host: to ?? url.hostname, port: url.port, method, path, headers: { host: url.host, ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => {
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {}
        resolve({ status: res.statusCode ?? 0, text, json });
      });
    });
    req.on('error', reject);
    req.end(body);
  });

const approve = (inspector: Inspector, headers: Record<string, string>) =>
  send(inspector, { method: 'POST', path: '/api/runs/r1/approve', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ callId: 'c1' }) });

/** The token a loopback inspector's own page carries for its requests. */
const pageToken = async (inspector: Inspector, host = new URL(inspector.url).host) =>
  /name="statecraft-token" content="([^"]*)"/.exec((await send(inspector, { path: '/', headers: { host } })).text)?.[1] ?? '';

const lanAddress = Object.values(networkInterfaces())
  .flat()
  .find((entry) => entry && !entry.internal && entry.family === 'IPv4')?.address;

test('an inspector on 0.0.0.0 refuses every API read without its token, even with Host: localhost', async () => {
  const inspector = await open({ host: '0.0.0.0' });
  const port = new URL(inspector.url).port;
  for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`, `attacker.example:${port}`]) {
    const runs = await send(inspector, { path: '/api/runs', headers: { host } });
    assert.is(runs.status, 403, `GET /api/runs with Host ${host}`);
    assert.match(runs.json.error.message, /x-statecraft-token/);
  }
  assert.is(inspector.tokenRequired, true);
  const stream = await send(inspector, { path: '/api/runs/r1/stream', headers: { host: `localhost:${port}` } });
  assert.is(stream.status, 403, 'the live stream too');
  const page = await send(inspector, { path: '/', headers: { host: `localhost:${port}` } });
  assert.is(page.status, 200, 'the page itself holds no data and is served');
  assert.not.ok(page.text.includes(inspector.token), 'the page does not hand out the token');

  const withToken = await send(inspector, { path: '/api/runs', headers: { host: `localhost:${port}`, 'x-statecraft-token': inspector.token } });
  assert.is(withToken.status, 200);
  assert.equal(withToken.json, []);
  const wrong = await send(inspector, { path: '/api/runs', headers: { 'x-statecraft-token': `${inspector.token.slice(1)}x` } });
  assert.is(wrong.status, 403);
});

test('on 0.0.0.0, a client sending Host: localhost gets no token from the page and cannot approve', async () => {
  const inspector = await open({ host: '0.0.0.0' });
  const host = `localhost:${new URL(inspector.url).port}`;
  const before = calls.length;
  const taken = await pageToken(inspector, host);
  const refused = await approve(inspector, { host, origin: `http://${host}`, 'x-statecraft-token': taken });
  assert.is(refused.status, 403);
  assert.is(calls.length, before, 'no action ran');
});

test('an inspector on a non-loopback address requires its token, whatever Host says', async () => {
  if (!lanAddress) {
    console.log('  (skipped: this machine has no non-loopback IPv4 address)');
    return;
  }
  const inspector = await open({ host: lanAddress });
  assert.is(inspector.tokenRequired, true);
  assert.is(new URL(inspector.url).hostname, lanAddress);
  const port = new URL(inspector.url).port;
  assert.is((await send(inspector, { path: '/api/runs', headers: { host: `localhost:${port}` } })).status, 403);
  assert.is((await send(inspector, { path: '/api/runs', headers: { 'x-statecraft-token': inspector.token } })).status, 200);
});

test('the link of a token inspector carries the token in the fragment, which no request sends', async () => {
  const inspector = await open({ host: '0.0.0.0' });
  const link = new URL(inspector.link());
  assert.is(link.hash, `#token=${inspector.token}`);
  assert.is(link.search, '', 'not in the query, which reaches servers and logs');
  assert.is(new URL(inspector.link('run 1')).hash, `#/runs/run%201?token=${inspector.token}`);
  const loopback = await open({});
  assert.is(loopback.link(), loopback.url, 'a loopback inspector needs no token in its link');
  assert.is(loopback.link('r1'), `${loopback.url}#/runs/r1`);
});

test('a loopback inspector serves its page and reads without a token, and refuses a foreign Host', async () => {
  const inspector = await open({});
  const port = new URL(inspector.url).port;
  assert.is(inspector.tokenRequired, false);
  assert.is((await send(inspector, { path: '/api/runs', headers: { host: `localhost:${port}` } })).status, 200);
  assert.is(await pageToken(inspector), inspector.token, 'its page carries the token its own requests need');
  const rebound = await send(inspector, { path: '/api/runs', headers: { host: `attacker.example:${port}` } });
  assert.is(rebound.status, 403, 'a DNS-rebound name is refused');
  const rebindPost = await approve(inspector, { host: `attacker.example:${port}`, origin: `http://attacker.example:${port}`, 'x-statecraft-token': inspector.token });
  assert.is(rebindPost.status, 403);
});

test('localhost and ::1 listeners are loopback-only; no token is asked for reads', async () => {
  const named = await open({ host: 'localhost' });
  assert.is(named.tokenRequired, false);
  assert.is((await send(named, { path: '/api/runs' })).status, 200);
  const six = await open({ host: '::1' }).catch((error: NodeJS.ErrnoException) => error);
  if (six instanceof Error) {
    console.log(`  (::1 skipped: ${six.message})`);
    return;
  }
  assert.is(six.tokenRequired, false);
  assert.is(six.url, `http://[::1]:${new URL(six.url).port}/`);
  assert.is((await send(six, { path: '/api/runs', to: '::1' })).status, 200);
});

test('a cross-origin approve with a valid token is refused with 403 and runs no action', async () => {
  const inspector = await open({});
  const port = new URL(inspector.url).port;
  const token = await pageToken(inspector);
  const before = calls.length;
  for (const headers of <Record<string, string>[]>[
    { origin: 'http://attacker.example' },
    { origin: `http://localhost:${Number(port) + 1}` },
    { origin: 'null' },
    { 'sec-fetch-site': 'cross-site' },
    { 'sec-fetch-site': 'same-site' },
    { origin: `http://127.0.0.1:${port}`, 'sec-fetch-site': 'cross-site' },
  ]) {
    const refused = await approve(inspector, { 'x-statecraft-token': token, ...headers });
    assert.is(refused.status, 403, JSON.stringify(headers));
    assert.match(refused.json.error.message, /cross-origin/i);
  }
  for (const verb of ['reject', 'fork']) {
    const body = verb === 'fork' ? { seq: 0 } : { callId: 'c1', reason: 'no' };
    const refused = await send(inspector, {
      method: 'POST',
      path: `/api/runs/r1/${verb}`,
      headers: { 'content-type': 'application/json', 'x-statecraft-token': token, origin: 'http://attacker.example' },
      body: JSON.stringify(body),
    });
    assert.is(refused.status, 403, verb);
  }
  const other = await send(inspector, { method: 'DELETE', path: '/api/runs/r1', headers: { origin: 'http://attacker.example' } });
  assert.is(other.status, 403, 'any method that is not GET or HEAD');
  assert.is(calls.length, before, 'no action ran');
});

test('a same-origin approve with the token is accepted, and so is a non-browser one without Origin', async () => {
  const inspector = await open({});
  const port = new URL(inspector.url).port;
  const token = await pageToken(inspector);
  const before = calls.length;
  for (const headers of <Record<string, string>[]>[
    { origin: `http://127.0.0.1:${port}`, 'sec-fetch-site': 'same-origin' },
    { host: `localhost:${port}`, origin: `http://localhost:${port}` },
    {},
  ]) {
    const accepted = await approve(inspector, { 'x-statecraft-token': token, ...headers });
    assert.is(accepted.status, 200, `${JSON.stringify(headers)}: ${accepted.text}`);
  }
  assert.is(calls.length, before + 3);
  const noToken = await approve(inspector, { origin: `http://127.0.0.1:${port}` });
  assert.is(noToken.status, 403, 'the same origin still needs the token');
});

test('on 0.0.0.0, a same-origin approve under the name the browser used works; another origin does not', async () => {
  const inspector = await open({ host: '0.0.0.0' });
  const port = new URL(inspector.url).port;
  const host = `${lanAddress ?? '127.0.0.1'}:${port}`;
  const before = calls.length;
  const accepted = await approve(inspector, { host, origin: `http://${host}`, 'x-statecraft-token': inspector.token });
  assert.is(accepted.status, 200, accepted.text);
  const refused = await approve(inspector, { host, origin: `http://attacker.example:${port}`, 'x-statecraft-token': inspector.token });
  assert.is(refused.status, 403);
  assert.is(calls.length, before + 1);
});

test('a token given to a loopback inspector is required there too; a guessable one is refused', async () => {
  const token = 'a-stable-token-0123456789';
  const inspector = await open({ token });
  assert.is(inspector.tokenRequired, true);
  assert.is(inspector.token, token);
  assert.is((await send(inspector, { path: '/api/runs' })).status, 403);
  assert.is((await send(inspector, { path: '/api/runs', headers: { 'x-statecraft-token': token } })).status, 200);
  assert.not.ok((await send(inspector, { path: '/' })).text.includes(token), 'the page does not hand it out');
  for (const weak of ['short', 'has spaces in it, too many', 'x'.repeat(15)]) {
    const error = await startInspector({ store, token: weak }).then(
      (started) => (opened.push(started), undefined),
      (caught: unknown) => caught,
    );
    assert.instance(error, UserError, weak);
    assert.match((error as Error).message, /at least 16/);
  }
});

const CHROMIUM = '/usr/bin/chromium';

test('the page opened from the #token= link lists, follows and approves a run on 0.0.0.0, and the token goes nowhere else', async () => {
  if (!existsSync(CHROMIUM)) return missing(`no browser at ${CHROMIUM}`, 'apt-get install --no-install-recommends chromium');
  const agent = defineAgent({
    name: 'careful',
    instructions: 'Take notes.',
    tools: [defineTool({ name: 'note', description: 'Write a note.', parameters: z.object({ text: z.string() }), needsApproval: true, execute: ({ text }) => `noted ${text}` })],
  });
  const run = startRun(agent, { input: 'go', store, model: scriptedModel([{ toolCalls: [{ id: 'p1', name: 'note', arguments: { text: 'remote' } }] }, { content: 'noted' }]) });
  await new Promise<void>((resolve) => run.on((event) => event.type === 'approval.requested' && resolve()));
  await run.durable();
  const inspector = await open({
    host: '0.0.0.0',
    actions: { ...actions, approve: async (_runId, callId, by) => run.approve(callId, { by }) },
  });

  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
  try {
    const page = await browser.newPage();
    page.setDefaultTimeout(15_000);
    const problems: string[] = [];
    const sent: string[] = [];
    page.on('pageerror', (error) => problems.push(error.message));
    page.on('console', (message) => message.type() === 'error' && problems.push(message.text()));
    page.on('request', (req) => sent.push(`${req.url()} referer=${req.headers().referer ?? ''}`));

    await page.goto(inspector.link(run.runId));
    const card = page.locator('.approval[data-call-id="p1"]');
    await card.waitFor();
    assert.is(await page.evaluate('location.hash'), `#/runs/${encodeURIComponent(run.runId)}`, 'the token is dropped from the address bar');
    await card.locator('button.approve').click();
    assert.is((await run.result).status, 'done');
    // Records after the approval reach the page only through the live stream, which needs the token.
    const { lastSeq } = await store.summary(run.runId);
    await page.waitForSelector(`.step[data-seq="${lastSeq}"]`);

    await page.goto(inspector.url);
    await page.locator(`tr[data-run-id="${run.runId}"]`).waitFor();
    assert.equal(problems, [], 'no errors in the page');
    assert.ok(sent.length > 5, sent.join('\n'));
    assert.equal(sent.filter((line) => line.includes(inspector.token)), [], 'no request URL or Referer carries the token');

    const stranger = await browser.newPage();
    await stranger.goto(inspector.url);
    await stranger.locator('p.muted', { hasText: 'requires its token' }).waitFor();
  } finally {
    await browser.close();
  }
});

test.run();
