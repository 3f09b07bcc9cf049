import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { z } from 'zod';
import { ConflictError } from '../src/errors.ts';
import { defineAgent, defineTool, startRun, type Run, type RunEvent } from '../src/index.ts';
import { startInspector, type Inspector } from '../src/inspector/startInspector.ts';
import type { InspectorActions } from '../src/inspector/inspectorApi.ts';
import { stateAt } from '../src/log/reads/reads.ts';
import { SqliteStore } from '../src/log/stores/sqlite/sqliteStore.ts';
import { forkRun } from '../src/runtime/forkRun.ts';
import { scriptedModel, type Script } from '../src/testing/index.ts';
import { withPage } from './fixtures/browser.ts';

const dir = mkdtempSync(join(tmpdir(), 'statecraft-inspector-'));
const store = new SqliteStore({ path: join(dir, 'runs.db') });

const makeAgent = (approval: boolean) =>
  defineAgent({
    name: approval ? 'careful' : 'noter',
    instructions: 'Take notes.',
    tools: [
      defineTool({
        name: 'note',
        description: 'Write a note.',
        parameters: z.object({ text: z.string() }),
        needsApproval: approval,
        execute: ({ text }) => `noted ${text}`,
      }),
    ],
  });

const script: Script = [
  {
    toolCalls: [{ id: 'a', name: 'note', arguments: { text: 'one' } }, { id: 'b', name: 'note', arguments: { text: 'two' } }],
    usage: { inputTokens: 120, cachedInputTokens: 100, outputTokens: 40, reasoningTokens: 30 },
  },
  { toolCalls: [{ id: 'c', name: 'note', arguments: { text: 'three' } }] },
  { content: 'all noted' },
];

const waitingRun = async (steps: Script) => {
  const run = startRun(makeAgent(true), { input: 'go', model: scriptedModel(steps), store });
  await new Promise<void>((resolve) => run.on((event) => event.type === 'approval.requested' && resolve()));
  await run.durable();
  return run;
};

let done: Run;
let liveWaiting: Run;
let pageWaiting: Run;
let inspector: Inspector;
const calls: unknown[][] = [];
const liveListeners = new Set<(event: RunEvent) => void>();

const actions: InspectorActions = {
  approve: async (runId, callId, by) => {
    calls.push(['approve', runId, callId, by]);
    if (runId === liveWaiting.runId) liveWaiting.approve(callId, { by });
  },
  reject: async (runId, callId, reason, by) => {
    calls.push(['reject', runId, callId, reason, by]);
    if (runId === liveWaiting.runId) liveWaiting.reject(callId, reason, { by });
  },
  fork: async (runId, seq, edit) => {
    calls.push(['fork', runId, seq, edit]);
    if (runId === 'conflicted') throw new ConflictError('Run "conflicted" was appended by another writer: reload and retry.');
    return forkRun(store, runId, seq, edit ? { edit } : {});
  },
};

test.before(async () => {
  done = startRun(makeAgent(false), { input: 'go', model: scriptedModel(script), store });
  await done.result;
  liveWaiting = await waitingRun(script);
  pageWaiting = await waitingRun([{ toolCalls: [{ id: 'p1', name: 'note', arguments: { text: 'careful' } }] }]);
  inspector = await startInspector({
    store,
    actions,
    live: { subscribe: (listener) => (liveListeners.add(listener), () => liveListeners.delete(listener)) },
  });
});

test.after(async () => {
  await inspector?.close();
  for (const run of [liveWaiting, pageWaiting]) if (run?.pendingApprovals.length) await run.detach();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const api = (path: string) => new URL(path, inspector.url).toString();
const getJson = async (path: string) => {
  const response = await fetch(api(path));
  return { status: response.status, body: (await response.json()) as any };
};
const tokenOf = async (url: string) => /name="statecraft-token" content="([^"]+)"/.exec(await (await fetch(url)).text())![1]!;
const post = async (path: string, body: unknown, token?: string, base = inspector.url) => {
  const response = await fetch(new URL(path, base), {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { 'x-statecraft-token': token } : {}) },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as any };
};

test('lists runs with their summaries and filters by status and agent', async () => {
  const all = await getJson('/api/runs');
  assert.is(all.status, 200);
  const ids = all.body.map((run: { runId: string }) => run.runId);
  for (const run of [done, liveWaiting, pageWaiting]) assert.ok(ids.includes(run.runId), `lists ${run.runId}`);
  const finished = await getJson('/api/runs?status=done');
  assert.equal(finished.body.map((run: { runId: string }) => run.runId), [done.runId]);
  const careful = await getJson('/api/runs?agent=careful&status=waiting');
  assert.equal(new Set(careful.body.map((run: { runId: string }) => run.runId)), new Set([liveWaiting.runId, pageWaiting.runId]));
  const bad = await getJson('/api/runs?status=sleeping');
  assert.is(bad.status, 400);
  assert.match(bad.body.error.message, /Unknown run status "sleeping"/);
});

test('serves a run header, summary and history, and 404 for an unknown run', async () => {
  const one = await getJson(`/api/runs/${done.runId}`);
  assert.is(one.body.header.runId, done.runId);
  assert.is(one.body.summary.status, 'done');
  const history = await getJson(`/api/runs/${done.runId}/history`);
  assert.equal(history.body, await store.readHistory(done.runId));
  const missing = await getJson('/api/runs/no-such-run');
  assert.is(missing.status, 404);
  assert.is(missing.body.error.name, 'RunNotFoundError');
});

test('at/:seq equals stateAt for every seq, stepping forward, backward and jumping', async () => {
  const { lastSeq } = await store.summary(done.runId);
  const forward = Array.from({ length: lastSeq + 1 }, (_, i) => i);
  const order = [...forward, ...[...forward].reverse(), 3, 0, lastSeq, 1, 1, 2];
  const records = await store.read(done.runId);
  for (const seq of order) {
    const { body } = await getJson(`/api/runs/${done.runId}/at/${seq}`);
    const expected = (await stateAt(store, done.runId, seq)) as { value: unknown; status: unknown; context: Record<string, unknown> };
    assert.is(body.seq, seq);
    assert.equal(body.value, expected.value, `value at ${seq}`);
    assert.equal({ ...body.context, messages: body.messages }, expected.context, `context at ${seq}`);
    assert.equal(body.event, records[seq]!.event, `event at ${seq}`);
    assert.equal(body.patch, records[seq]!.patch, `patch at ${seq}`);
  }
  const past = await getJson(`/api/runs/${done.runId}/at/${lastSeq + 1}`);
  assert.is(past.status, 404);
  assert.match(past.body.error.message, new RegExp(`expected a seq from 0 to ${lastSeq}`));
});

test('records: timeline rows in words by seq range, narrowed by kind, tool, state and text', async () => {
  const { lastSeq } = await store.summary(done.runId);
  const first = await getJson(`/api/runs/${done.runId}/records?from=0&to=3`);
  assert.is(first.body.lastSeq, lastSeq);
  assert.equal(first.body.rows.map((row: { seq: number }) => row.seq), [0, 1, 2, 3]);
  assert.equal(first.body.rows.map((row: { kind: string }) => row.kind), ['start', 'model', 'tool', 'tool']);
  assert.equal(first.body.rows.slice(0, 3).map((row: { label: string }) => row.label), ['Run started', 'Model asks for note · 120 in / 40 out', 'note started (a)']);
  assert.is(first.body.rows[1].eventType, 'xstate.done.actor.callModel');
  // A tool's finish names the tool the model asked for, though its event names only the call.
  const all = (await getJson(`/api/runs/${done.runId}/records?from=0&to=${lastSeq}`)).body.rows as { seq: number; kind: string; tool?: string; status?: string; label: string; state: string }[];
  assert.ok(all.some((row) => row.status === 'ok' && /^note finished in \d+ ms$/.test(row.label)), all.map((row) => row.label).join('\n'));
  // The last record of a run that has ended says how it ended.
  assert.match(all.at(-1)!.label, /^Model answers: all noted · \d+ in \/ \d+ out → run done$/);

  const tools = await getJson(`/api/runs/${done.runId}/records?kind=tool&from=0&to=${lastSeq}`);
  assert.equal(tools.body.matches, all.filter((row) => row.kind === 'tool').map((row) => row.seq));
  assert.equal(tools.body.rows.map((row: { seq: number }) => row.seq), tools.body.matches);
  const later = await getJson(`/api/runs/${done.runId}/records?kind=tool&from=${tools.body.matches[2]}&to=${lastSeq}`);
  assert.equal(later.body.rows.map((row: { seq: number }) => row.seq), tools.body.matches.slice(2), 'rows from a seq on, matches of the whole run');
  const three = await getJson(`/api/runs/${done.runId}/records?text=THREE`);
  assert.ok(three.body.matches.length > 0 && three.body.matches.length < all.length);
  for (const seq of three.body.matches) assert.match(JSON.stringify((await store.readHistory(done.runId, { from: seq, to: seq }))[0]!.event), 'three');
  const inDone = await getJson(`/api/runs/${done.runId}/records?state=done&tool=note`);
  assert.equal(inDone.body.matches, []);
  const ended = await getJson(`/api/runs/${done.runId}/records?state=done`);
  assert.equal(ended.body.matches, [lastSeq]);
  const facets = await getJson(`/api/runs/${done.runId}/facets`);
  assert.equal(facets.body.tools, ['note']);
  assert.ok(facets.body.states.includes('execute') && facets.body.states.includes('done'), facets.body.states);
  const bad = await getJson(`/api/runs/${done.runId}/records?kind=dance`);
  assert.is(bad.status, 400);
  assert.match(bad.body.error.message, /Unknown record kind "dance"/);
});

test('at/:seq sends a window of the messages with their count; at/:seq/messages pages through them', async () => {
  const { lastSeq } = await store.summary(done.runId);
  const messages = ((await stateAt(store, done.runId, lastSeq)) as { context: { messages: unknown[] } }).context.messages;
  const tail = await getJson(`/api/runs/${done.runId}/at/${lastSeq}?messages=-2`);
  assert.is(tail.body.messageCount, messages.length);
  assert.is(tail.body.messagesFrom, messages.length - 2);
  assert.equal(tail.body.messages, messages.slice(-2));
  assert.match(tail.body.row.label, /^Model answers: all noted/);
  const middle = await getJson(`/api/runs/${done.runId}/at/${lastSeq}?messages=1-2`);
  assert.equal([middle.body.messagesFrom, middle.body.messages], [1, messages.slice(1, 3)]);
  const page = await getJson(`/api/runs/${done.runId}/at/${lastSeq}/messages?from=2&to=400`);
  assert.equal([page.body.count, page.body.from, page.body.messages], [messages.length, 2, messages.slice(2)]);
  const bad = await getJson(`/api/runs/${done.runId}/at/${lastSeq}?messages=some`);
  assert.is(bad.status, 400);
  assert.match(bad.body.error.message, /range of message indices/);
});

test('shows pending approvals with parsed arguments at the latest record of a waiting run', async () => {
  const { lastSeq } = await store.summary(pageWaiting.runId);
  const { body } = await getJson(`/api/runs/${pageWaiting.runId}/at/${lastSeq}`);
  assert.equal(body.pending.map(({ callId, tool, arguments: args }: { callId: string; tool: string; arguments: unknown }) => ({ callId, tool, arguments: args })), [
    { callId: 'p1', tool: 'note', arguments: { text: 'careful' } },
  ]);
  assert.match(body.pending[0].argsHash, /^[0-9a-f]{16}$/, 'the page gets the hash its decision must name');
  assert.equal(body.pending[0].policy, { decision: 'ask', source: 'tool note' });
});

test('serves the machine diagram with an element per state, and 404 for an unknown machine', async () => {
  const response = await fetch(api('/api/machines/agent.svg'));
  assert.match(response.headers.get('content-type') ?? '', /image\/svg\+xml/);
  const svg = await response.text();
  for (const state of ['infer', 'execute', 'awaitingApproval', 'done']) assert.ok(svg.includes(`id="state:agent.${state}"`), state);
  const unknown = await getJson('/api/machines/robot.svg');
  assert.is(unknown.status, 404);
  assert.match(unknown.body.error.message, /known machines: agent/);
});

interface SseEvent {
  event: string;
  data: any;
}

async function openStream(url: string, signal: AbortSignal) {
  const response = await fetch(url, { signal });
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  const read = () => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('no SSE event within 10 s')), 10_000)));
    return Promise.race([reader.read(), timeout]).finally(() => clearTimeout(timer));
  };
  return async (wanted: (event: SseEvent) => boolean): Promise<SseEvent> => {
    for (;;) {
      for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (event && data !== undefined) {
          const parsed = { event, data: JSON.parse(data) };
          if (wanted(parsed)) return parsed;
        }
      }
      const { value, done: ended } = await read();
      if (ended) throw new Error('the SSE stream ended');
      buffer += value;
    }
  };
}

test('the stream delivers a record appended after it opened, and live token deltas', async () => {
  const controller = new AbortController();
  const { lastSeq } = await store.summary(liveWaiting.runId);
  const next = await openStream(api(`/api/runs/${liveWaiting.runId}/stream`), controller.signal);
  try {
    const summary = await next((event) => event.event === 'summary');
    assert.is(summary.data.lastSeq, lastSeq);
    const approved = await post(`/api/runs/${liveWaiting.runId}/approve`, { callId: 'a' }, await tokenOf(inspector.url));
    assert.is(approved.status, 200);
    const record = await next((event) => event.event === 'record');
    assert.is(record.data.seq, lastSeq + 1, 'the first record after the one the stream opened at');
    assert.is(record.data.eventType, 'APPROVE');
    for (const listener of liveListeners) listener({ type: 'delta', runId: liveWaiting.runId, step: 1, text: 'Hel' });
    const delta = await next((event) => event.event === 'delta');
    assert.is(delta.data.text, 'Hel');
  } finally {
    controller.abort();
  }
});

test('a POST without the page token is refused with 403 and calls no action', async () => {
  const before = calls.length;
  const missing = await post(`/api/runs/${pageWaiting.runId}/approve`, { callId: 'p1' });
  const wrong = await post(`/api/runs/${pageWaiting.runId}/approve`, { callId: 'p1' }, 'not-the-token');
  assert.is(missing.status, 403);
  assert.is(wrong.status, 403);
  assert.match(missing.body.error.message, /x-statecraft-token/);
  assert.is(calls.length, before);
});

const getWithHost = (host: string) =>
  new Promise<number>((resolve, reject) => {
    const url = new URL(inspector.url);
    const req = request({ host: url.hostname, port: url.port, path: '/api/runs', headers: { host } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });

test('a request with a foreign Host header is refused (DNS rebinding guard)', async () => {
  const port = new URL(inspector.url).port;
  assert.is(await getWithHost(`attacker.example:${port}`), 403);
  assert.is(await getWithHost(`localhost:${port}`), 200);
  assert.is(await getWithHost(`127.0.0.1:${port}`), 200);
});

test('approve, reject and fork call the actions; their errors map to 4xx and 409', async () => {
  const token = await tokenOf(inspector.url);
  const approve = await post(`/api/runs/${pageWaiting.runId}/approve`, { callId: 'p1', by: 'ana' }, token);
  assert.is(approve.status, 200);
  assert.equal(calls.at(-1), ['approve', pageWaiting.runId, 'p1', 'ana']);
  const reject = await post(`/api/runs/${pageWaiting.runId}/reject`, { callId: 'p1', reason: 'too risky' }, token);
  assert.equal(calls.at(-1), ['reject', pageWaiting.runId, 'p1', 'too risky', 'inspector']);
  assert.is(reject.status, 200);

  const fork = await post(`/api/runs/${done.runId}/fork`, { seq: 1 }, token);
  assert.is(fork.status, 201);
  assert.equal((await store.header(fork.body.runId)).parent, { runId: done.runId, seq: 1 });

  const wrongCall = await post(`/api/runs/${liveWaiting.runId}/approve`, { callId: 'zzz' }, token);
  assert.is(wrongCall.status, 400);
  assert.is(wrongCall.body.error.name, 'UserError');
  assert.match(wrongCall.body.error.message, /no tool call zzz/);
  const conflict = await post('/api/runs/conflicted/fork', { seq: 0 }, token);
  assert.is(conflict.status, 409);
  assert.is(conflict.body.error.name, 'ConflictError');
  const invalid = await post(`/api/runs/${done.runId}/fork`, { seq: -1 }, token);
  assert.is(invalid.status, 400);
});

test('without actions, approve answers 501 with a message saying how to enable it', async () => {
  const bare = await startInspector({ store });
  try {
    const response = await post(`/api/runs/${pageWaiting.runId}/approve`, { callId: 'p1' }, await tokenOf(bare.url), bare.url);
    assert.is(response.status, 501);
    assert.match(response.body.error.message, /started without actions/);
  } finally {
    await bare.close();
  }
});

test('the page lists runs, draws the statechart at the final state, and scrubs back', async () => {
  await withPage(async (page) => {
    await page.goto(inspector.url);
    const row = page.locator(`tr[data-run-id="${done.runId}"]`);
    await row.waitFor();
    assert.match(await row.innerText(), /done/);
    await row.locator('a.run-link').click();
    const { lastSeq } = await store.summary(done.runId);
    await page.waitForSelector(`.step[data-seq="${lastSeq}"]`);
    const current = page.locator('#diagram g.node.current');
    await current.waitFor();
    assert.is(await current.getAttribute('id'), 'state:agent.done');
    const last = (await stateAt(store, done.runId, lastSeq)) as { context: { messages: unknown[] } };
    const loaded = (seq: number) => page.locator(`.messages[data-seq="${seq}"] .message:not(.pending)`);
    await loaded(lastSeq).nth(last.context.messages.length - 1).waitFor();
    assert.is(await loaded(lastSeq).count(), last.context.messages.length);
    // The timeline says what happened in words; XState's own names are for the event's details.
    assert.match(await page.locator(`.timeline li[data-seq="${lastSeq}"]`).innerText(), /Model answers: all noted/);
    // The event is said in words; its raw form, with XState's name, is folded away in the details.
    assert.match(await page.locator('.step .event-words').innerText(), /^Model answers: all noted/);
    assert.is(await page.locator('.step details.raw-event[open]').count(), 0);
    assert.match((await page.locator('.step .event-type').textContent()) ?? '', 'xstate.done.actor.callModel');

    await page.$eval('#seq-slider', (input) => {
      (input as unknown as { value: string }).value = '1';
      input.dispatchEvent(new Event('input', { bubbles: true }));
    });
    await page.waitForSelector('.step[data-seq="1"]');
    const early = (await stateAt(store, done.runId, 1)) as { value: string; context: { messages: unknown[] } };
    assert.is(await page.locator('#diagram g.node.current').getAttribute('id'), `state:agent.${early.value}`);
    assert.is.not(early.value, 'done');
    await loaded(1).nth(early.context.messages.length - 1).waitFor();
    assert.is(await loaded(1).count(), early.context.messages.length);
    assert.match(await page.locator('.timeline li[data-seq="1"]').innerText(), /Model asks for note/);
    assert.ok(early.context.messages.length < last.context.messages.length, 'fewer messages at an earlier step');
    // Record 1 is the first model answer: its tokens, cached and reasoning ones included, and the run's so far.
    const head = await page.locator('.step[data-seq="1"] .step-head').innerText();
    assert.match(head, '120 in (100 cached) / 40 out (30 reasoning)');
    assert.match(head, /run so far\s*120 in \(100 cached\) \/ 40 out \(30 reasoning\) · \$0\.0000/);

    await page.locator('body').press('ArrowRight');
    await page.waitForSelector('.step[data-seq="2"]');

    // Record 2 may be in the middle of a tool call, which a fork refuses: fork from the model's answer before it.
    await page.locator('body').press('ArrowLeft');
    await page.waitForSelector('.step[data-seq="1"]');
    await page.locator('button.fork').click();
    // The page moves to the fork by its hash, which is no navigation that waitForURL sees.
    // A function, not a string: the page's Content-Security-Policy forbids eval, which a string predicate needs.
    await page.waitForFunction(
      (from: string) => {
        const hash = (globalThis as unknown as { location: { hash: string } }).location.hash;
        return hash.startsWith('#/runs/') && !hash.includes(from);
      },
      done.runId,
    );
    await page.locator('.run-head', { hasText: 'fork of' }).waitFor();
    assert.equal(calls.at(-1), ['fork', done.runId, 1, undefined]);
  });
});

test('a waiting run shows its pending approval, and Approve calls the action', async () => {
  await withPage(async (page) => {
    await page.goto(`${inspector.url}#/runs/${encodeURIComponent(pageWaiting.runId)}`);
    const card = page.locator('.approval[data-call-id="p1"]');
    await card.waitFor();
    assert.match(await card.locator('pre').innerText(), /"text": "careful"/);
    assert.is(await page.locator('#diagram g.node.current').getAttribute('id'), 'state:agent.awaitingApproval');
    await page.screenshot({ path: '/tmp/inspector.png', fullPage: true });
    const before = calls.length;
    await card.locator('button.approve').click();
    await card.locator('.approval-status.ok').waitFor();
    assert.equal(calls.slice(before), [['approve', pageWaiting.runId, 'p1', 'inspector']]);
  });
});

test('the run view follows a live run: new records append and the newest step is shown', async () => {
  await withPage(async (page) => {
    await page.goto(`${inspector.url}#/runs/${encodeURIComponent(liveWaiting.runId)}`);
    await page.locator('.approval[data-call-id="b"]').waitFor();
    const before = await page.locator('.timeline li').count();
    liveWaiting.approve('b');
    await page.locator('.approval[data-call-id="c"]').waitFor();
    await liveWaiting.durable();
    const { lastSeq } = await store.summary(liveWaiting.runId);
    await page.waitForSelector(`.step[data-seq="${lastSeq}"]`);
    await page.waitForSelector(`.timeline li[data-seq="${lastSeq}"]:not(.pending)`);
    assert.ok((await page.locator('.timeline li').count()) > before, 'new records were appended to the timeline');
    assert.is(await page.locator('.timeline li').count(), lastSeq + 1);
    assert.match(await page.locator('.timeline-count').innerText(), `${lastSeq + 1} records`);
  });
});

test.run();
