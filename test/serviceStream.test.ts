// A run's events over SSE: record seqs are the event ids, so a client that reconnects with
// Last-Event-ID (to the same instance or another on the same store) gets every record it missed and
// none twice. A service that stops ends its streams and lets its runs finish.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { call, readEvents, startService, until, type SseEvent, type TestService } from './fixtures/service.ts';

let s: TestService;
test.before(async () => {
  s = await startService();
});
test.after(async () => {
  await s.close();
});

const records = (events: SseEvent[]) => events.filter((event) => event.event === 'record');
const ids = (events: SseEvent[]) => records(events).map((event) => Number(event.id));
const upTo = (last: number) => [...Array(last + 1).keys()];

test('a stream follows a run live: records with their seqs as ids, its status while it waits, and an end', async () => {
  const runId = (await call(s, '/v1/runs', { key: s.keys.a, body: { agent: 'support', input: 'refund L1' } })).json.runId;
  let decided: Promise<unknown> | undefined;
  const read = await readEvents(s, s.keys.a, runId, {
    stop: (event) => {
      const status = event.event === 'status' ? JSON.parse(event.data) : undefined;
      if (status?.status === 'waiting' && !decided) {
        const [call0] = status.waitingOn;
        decided = call(s, `/v1/runs/${runId}/approvals/${call0.callId}/approve`, { key: s.keys.a, body: { argsHash: call0.argsHash, by: 'lee' } });
      }
      return false;
    },
  });
  assert.is(read.status, 200);
  assert.ok(read.ended, 'the server ended the stream');
  assert.is((await decided as { status: number }).status, 202, 'the call was approved while the stream was open');
  const end = read.events.at(-1)!;
  assert.is(end.event, 'end');
  const summary = JSON.parse(end.data);
  assert.is(summary.status, 'done');
  assert.equal(ids(read.events), upTo(summary.lastSeq));
  for (const event of records(read.events)) assert.is(JSON.parse(event.data).seq, Number(event.id));
  assert.ok(records(read.events).some((event) => JSON.parse(event.data).eventType === 'APPROVE'));
  assert.ok(read.events.every((event) => event.event === 'record' || event.id === undefined), 'only records carry ids');
  // The answer after the approval streamed while the client was connected: its text came as deltas.
  const streamed = read.events.filter((event) => event.event === 'delta').map((event) => JSON.parse(event.data).text).join('');
  assert.is(streamed, 'Done: refunded 25 on L1');
});

test('a client that reconnects with Last-Event-ID gets every record it missed and none twice', async () => {
  const runId = (await call(s, '/v1/runs', { key: s.keys.a, body: { agent: 'support', input: 'look R7' } })).json.runId;
  const { summary } = await until(s, s.keys.a, runId, ['done']);
  assert.ok(summary.lastSeq >= 3, 'the run has records enough to split');
  const first = await readEvents(s, s.keys.a, runId, { stop: (_event, all) => records(all).length === 2 });
  assert.not.ok(first.ended);
  assert.equal(ids(first.events), [0, 1]);
  const second = await readEvents(s, s.keys.a, runId, { lastEventId: '1' });
  assert.ok(second.ended);
  assert.equal(ids(second.events), upTo(summary.lastSeq).slice(2));
  assert.equal([...ids(first.events), ...ids(second.events)], upTo(summary.lastSeq));
  const after = await readEvents(s, s.keys.a, runId, { lastEventId: String(summary.lastSeq) });
  assert.equal(ids(after.events), [], 'nothing is sent twice');
  assert.is(after.events.at(-1)?.event, 'end');
  const bad = await readEvents(s, s.keys.a, runId, { lastEventId: 'yesterday' });
  assert.is(bad.status, 400);
  assert.match(JSON.parse(bad.text ?? '{}').detail, /Expected Last-Event-ID to be a record seq \(-1, 0, 1, \.\.\.\), found "yesterday"/);
  const other = await readEvents(s, s.keys.b, runId);
  assert.is(other.status, 404, "another tenant's key cannot stream it");
});

test('a stopping instance ends its streams and lets its runs finish; another instance on the store continues the stream with nothing lost', async () => {
  const a = await startService();
  const b = await startService({}, a.store);
  try {
    const slow = (await call(a, '/v1/runs', { key: a.keys.a, body: { agent: 'support', input: 'slow S1' } })).json.runId;
    const runId = (await call(a, '/v1/runs', { key: a.keys.a, body: { agent: 'support', input: 'refund K1' } })).json.runId;
    let stopping: Promise<void> | undefined;
    const first = await readEvents(a, a.keys.a, runId, {
      stop: (event) => {
        if (event.event === 'status' && JSON.parse(event.data).status === 'waiting') stopping ??= a.close();
        return false;
      },
    });
    await stopping;
    assert.ok(first.ended, 'the stopping instance ended the stream');
    assert.not.ok(first.events.some((event) => event.event === 'end'), 'the run had not ended');
    const lastId = records(first.events).at(-1)!.id!;
    // The run that was running when the instance stopped was let finish, not cancelled.
    assert.is((await until(b, a.keys.a, slow, ['done', 'cancelled', 'failed'])).summary.status, 'done');
    const [pending] = (await call(b, `/v1/runs/${runId}/approvals`, { key: a.keys.a })).json;
    assert.is((await call(b, `/v1/runs/${runId}/approvals/${pending.callId}/approve`, { key: a.keys.a, body: { argsHash: pending.argsHash, by: 'kim' } })).status, 202);
    const second = await readEvents(b, a.keys.a, runId, { lastEventId: lastId });
    const summary = JSON.parse(second.events.at(-1)!.data);
    assert.is(summary.status, 'done');
    assert.equal([...ids(first.events), ...ids(second.events)], upTo(summary.lastSeq));
    const refused = await fetch(`${a.url}/healthz`).then(() => 'answered', () => 'refused');
    assert.is(refused, 'refused', 'the stopped instance no longer listens');
  } finally {
    await a.close();
    await b.close();
  }
});

test('a stopping instance fails readiness and refuses new requests at once, before its stores close', async () => {
  const stopping = await startService();
  const closing = stopping.server.close();
  const ready = await stopping.server.fetch(new Request('http://service/readyz'));
  assert.is(ready.status, 503);
  assert.equal(await ready.json(), { status: 'unavailable', detail: 'shutting down' });
  const refused = await stopping.server.fetch(new Request('http://service/v1/runs', { headers: { authorization: `Bearer ${stopping.keys.a}` } }));
  assert.is(refused.status, 503);
  assert.is(refused.headers.get('retry-after'), '1');
  assert.match(((await refused.json()) as { detail: string }).detail, /shutting down: retry the request, which will reach another instance/);
  await closing;
  await stopping.close();
});

test.run();
