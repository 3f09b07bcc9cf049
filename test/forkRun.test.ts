import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { z } from 'zod';
import { defineAgent, defineTool, startRun } from '../src/index.ts';
import { SqliteStore } from '../src/log/stores/sqlite/sqliteStore.ts';
import type { Operation } from '../src/log/format/record.ts';
import { forkRun } from '../src/runtime/forkRun.ts';
import { resumeRun } from '../src/runtime/resumeRun.ts';
import { scriptedModel } from '../src/testing/index.ts';
import { cliIn } from './fixtures/cli.ts';
import { rejection } from './fixtures/helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'statecraft-fork-'));
let n = 0;
const freshStore = () => new SqliteStore({ path: join(dir, `runs-${n++}.db`) });

const makeAgent = (ran: string[]) =>
  defineAgent({
    name: 'fork-test',
    limits: { maxSteps: 10 },
    instructions: 'Test.',
    tools: [
      defineTool({
        name: 'note',
        description: 'Write a note.',
        parameters: z.object({ text: z.string() }),
        execute: ({ text }, ctx) => {
          ran.push(`${ctx.callId}:${text}`);
          return `noted ${text}`;
        },
      }),
    ],
  });

const script = () => scriptedModel([{ toolCalls: [{ id: 'a', name: 'note', arguments: { text: 'one' } }] }, { content: 'all noted' }]);

async function finishedRun(store: SqliteStore) {
  const run = startRun(makeAgent([]), { input: 'go', model: script(), store });
  await run.result;
  const records = await store.read(run.runId);
  return { runId: run.runId, records, seqOf: (type: string) => records.find((record) => record.event.type === type)!.seq };
}

/** The message of a refused fork, checking it left no run behind. */
async function refusedFork(store: SqliteStore, runId: string, seq: number, edit?: unknown): Promise<string> {
  const before = (await store.listRuns()).map((run) => run.runId);
  const error = (await rejection(forkRun(store, runId, seq, edit === undefined ? {} : { edit: edit as Operation[] }))) as Error;
  assert.equal((await store.listRuns()).map((run) => run.runId), before, 'a refused fork leaves no run behind');
  return error.message;
}

test.after(() => rmSync(dir, { recursive: true, force: true }));

test('an edit that is not a list of patch operations is refused naming the bad operation, and makes no run', async () => {
  const store = freshStore();
  const { runId, seqOf } = await finishedRun(store);
  const at = seqOf('xstate.done.actor.executeTools');
  const numbers = await refusedFork(store, runId, at, [1, 2]);
  assert.match(numbers, 'has an invalid operation 0 (1)');
  assert.match(numbers, 'Expected an RFC 6902 operation');
  const noPath = await refusedFork(store, runId, at, [{ op: 'replace', path: '/output', value: 'x' }, { op: 'replace', value: 1 }]);
  assert.match(noPath, 'invalid operation 1 ({"op":"replace","value":1}) at "path"');
  assert.match(await refusedFork(store, runId, at, { op: 'remove', path: '/messages' }), 'must be a list of JSON patch operations');
  await store.close();
});

test("an edit that breaks the agent context's shape is refused naming the field, and makes no run", async () => {
  const store = freshStore();
  const { runId, seqOf } = await finishedRun(store);
  const at = seqOf('xstate.done.actor.executeTools');
  const step = await refusedFork(store, runId, at, [{ op: 'replace', path: '/step', value: 'notanumber' }]);
  assert.match(step, `The edit for the fork of run ${runId} at record ${at} leaves the agent's context unusable: /step`);
  assert.match(step, 'found "notanumber"');
  const messages = await refusedFork(store, runId, at, [{ op: 'remove', path: '/messages' }]);
  assert.match(messages, '/messages');
  assert.match(messages, 'found nothing');
  const role = await refusedFork(store, runId, at, [{ op: 'replace', path: '/messages/1/role', value: 'robot' }]);
  assert.match(role, '/messages/1/role');
  await store.close();
});

test('an edit that keeps the shape is forked and the fork resumes', async () => {
  const store = freshStore();
  const { runId, seqOf } = await finishedRun(store);
  const ran: string[] = [];
  const forkId = await forkRun(store, runId, seqOf('xstate.done.actor.executeTools'), {
    edit: [{ op: 'replace', path: '/messages/3/content', value: 'the note service is down' }],
  });
  const model = scriptedModel([
    (request) => {
      assert.ok(request.messages.some((m) => m.content === 'the note service is down'), 'the model sees the edit');
      return { content: 'understood' };
    },
  ]);
  const result = await (await resumeRun(makeAgent(ran), forkId, { store, model })).result;
  assert.is(result.output, 'understood');
  assert.equal(ran, [], 'no tool ran again');
  await store.close();
});

test('a fork whose first record cannot be written is removed', async () => {
  const store = freshStore();
  const { runId } = await finishedRun(store);
  const append = store.append.bind(store);
  store.append = async () => {
    throw new Error('disk full');
  };
  const error = (await rejection(forkRun(store, runId, 1, { runId: 'fork-unwritten' }))) as Error;
  store.append = append;
  assert.is(error.message, 'disk full');
  assert.equal((await store.listRuns()).map((run) => run.runId), [runId], 'no empty run is left to resume');
  await store.close();
});

test('a fork from between a tool call starting and finishing is refused, naming the call and the records to fork from', async () => {
  const store = freshStore();
  const { runId, seqOf } = await finishedRun(store);
  const started = seqOf('TOOL_STARTED');
  const finished = seqOf('TOOL_FINISHED');
  const message = await refusedFork(store, runId, started);
  assert.match(message, `Run ${runId} record ${started} is in the middle of tool call a (note)`);
  assert.match(message, `Fork from record ${started - 1} (before the call started) or record ${finished} (after it finished)`);
  const ran: string[] = [];
  for (const seq of [started - 1, finished]) {
    const forkId = await forkRun(store, runId, seq);
    const result = await (await resumeRun(makeAgent(ran), forkId, { store, model: scriptedModel(seq < started ? [{ content: 'again' }] : [{ content: 'after' }]) })).result;
    assert.is(result.status, 'done', `the fork from record ${seq} resumes`);
  }
  assert.equal(ran, ['a:one'], 'the fork from before the call runs it once; the one from after does not');
  await store.close();
});

test('statecraft fork with a bad edit exits with the error and lists no new run', async () => {
  const cliDir = mkdtempSync(join(dir, 'cli-'));
  const { storeUrl, statecraft } = cliIn(cliDir);
  const store = new SqliteStore({ path: storeUrl.slice('sqlite:'.length) });
  const { runId, seqOf } = await finishedRun(store);
  await store.close();
  const at = String(seqOf('xstate.done.actor.executeTools'));
  for (const edit of ['[1,2]', '[{"op":"replace","path":"/step","value":"notanumber"}]', '[{"op":"remove","path":"/messages"}]']) {
    const forked = await statecraft(['fork', runId, '--at', at, '--edit', edit]);
    assert.is.not(forked.code, 0, forked.out);
    assert.match(forked.out, `The edit for the fork of run ${runId} at record ${at}`);
    assert.not.match(forked.out, 'Cannot read properties');
  }
  const runs = await statecraft(['runs']);
  assert.not.match(runs.out, 'statecraft resume', runs.out);
});

test.run();

test('a fork is created not started, listed so, and `statecraft runs` says how to start it; resumed, it runs', async () => {
  const sub = mkdtempSync(join(dir, 'created-'));
  const store = new SqliteStore({ path: join(sub, 'runs.db') });
  const { runId, seqOf } = await finishedRun(store);
  const forkId = await forkRun(store, runId, seqOf('xstate.done.actor.executeTools'));
  assert.is((await store.summary(forkId)).status, 'created');
  assert.equal((await store.listRuns({ status: ['created'] })).map((run) => run.runId), [forkId]);
  const atEnd = await forkRun(store, runId, (await store.summary(runId)).lastSeq);
  assert.is((await store.summary(atEnd)).status, 'done', 'a fork of a final record is as its parent ended');
  const listed = await cliIn(sub).statecraft(['runs', '--status', 'created']);
  assert.is(listed.code, 0, listed.out);
  assert.match(listed.out, forkId.slice(0, 8));
  assert.match(listed.out, `a fork not started yet: npx statecraft resume ${forkId.slice(0, 8)}`);
  const resumed = await resumeRun(makeAgent([]), forkId, { store, model: scriptedModel([{ content: 'fork done' }]) });
  await resumed.durable();
  assert.is((await store.summary(forkId)).status, 'running', 'the resume is recorded as the fork starting');
  assert.is((await resumed.result).status, 'done');
  await store.close();
});
