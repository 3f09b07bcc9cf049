import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cliIn } from './fixtures/cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'statecraft-cli-approvals-'));
const { statecraft, trace } = cliIn(dir);

test('statecraft approve and reject name the invoked agent when two wait on the same call id', async () => {
  // With --approve wait the run is let go only once neither agent is still working: both calls wait.
  const started = await statecraft(['run', 'test/fixtures/pair/agent.ts', '--approve', 'wait']);
  assert.is(started.code, 4, started.out);
  const runId = /Run (\S+) waits for approval/.exec(started.out)?.[1];
  assert.ok(runId, started.out);
  assert.match(started.out, /statecraft approve \S+ p1 --actor editor --hash [0-9a-f]+ --store \S+ +# publish\(\{"text":"by the editor"\}\) in editor/);
  assert.match(started.out, /statecraft approve \S+ p1 --actor writer --hash [0-9a-f]+ --store \S+ +# publish\(\{"text":"by the writer"\}\) in writer/);
  assert.match(started.out, /\? publish\(\{"text":"by the writer"\}\) p1 in writer waits for approval/, 'progress names the call, its arguments and its agent');
  assert.match(started.out, /Waiting for approval of p1 \(publish in (writer|editor)\), p1 \(publish in (writer|editor)\)\./);

  const unnamed = await statecraft(['approve', runId!, 'p1', '--by', 'ana']);
  assert.is(unnamed.code, 2, unnamed.out);
  assert.match(unnamed.out, /p1 is waiting in more than one agent .*so nothing was decided\. Say which: actor: .*--actor on the command line/);
  assert.equal(trace(), [], 'nothing ran');

  const approved = await statecraft(['approve', runId!, 'p1', '--actor', 'editor', '--by', 'ana']);
  assert.is(approved.code, 4, `the writer still waits: ${approved.out}`);
  assert.equal(trace(), ['publish by the editor']);
  const rejected = await statecraft(['reject', runId!, 'p1', '--actor', 'writer', '--reason', 'Not yours to publish.', '--by', 'ana']);
  assert.is(rejected.code, 0, rejected.out);
  assert.equal(trace(), ['publish by the editor'], 'the rejected call never ran');
});

test('approving one call at a time: each call the scripted model makes up in a resumed process has an id of its own', async () => {
  const started = await statecraft(['run', 'test/fixtures/steps/agent.ts', '--approve', 'wait']);
  assert.is(started.code, 4, started.out);
  const runId = /Run (\S+) waits for approval/.exec(started.out)?.[1];
  assert.match(started.out, /statecraft approve \S+ call_1 --hash/);
  const first = await statecraft(['approve', runId!, 'call_1']);
  assert.is(first.code, 4, first.out);
  assert.match(first.out, /statecraft approve \S+ call_2 --hash [0-9a-f]+ --store \S+ +# publish\(\{"text":"summary"\}\)/, 'the next call is not given the id of the one just approved');
  const second = await statecraft(['approve', runId!, 'call_2']);
  assert.is(second.code, 0, second.out);
  assert.equal(trace().filter((line) => line.startsWith('publish ')).slice(-2), ['publish draft', 'publish summary']);
});

test('--approve ask reads answers piped on stdin, and leaves the run waiting when they run out', async () => {
  const before = trace().length;
  const one = await statecraft(['run', 'test/fixtures/pair/agent.ts', '--approve', 'ask'], { input: 'y\n' });
  assert.is(one.code, 4, one.out);
  assert.match(one.out, 'No answer: the input ended. The run is left waiting for the calls not decided.');
  assert.match(one.out, /statecraft approve \S+ p1 --actor (writer|editor) --hash/, 'the call not decided is listed to decide later');
  assert.is(trace().length, before + 1, 'the call answered y ran');

  const both = await statecraft(['run', 'test/fixtures/pair/agent.ts', '--approve', 'ask'], { input: 'y\ny\n' });
  assert.is(both.code, 0, both.out);
  assert.is(trace().length, before + 3, 'two answers piped at once both reach their questions');

  const none = await statecraft(['run', 'test/fixtures/pair/agent.ts', '--approve', 'ask'], { input: '' });
  assert.is(none.code, 4, none.out);
  assert.is(trace().length, before + 3, 'nothing ran without an answer');
});

test('a refused approve or reject changes nothing: no resume, no record, exit 2 with the reason', async () => {
  const started = await statecraft(['run', 'test/fixtures/approval/agent.ts', '--approve', 'wait']);
  assert.is(started.code, 4, started.out);
  const runId = /Run (\S+) waits for approval/.exec(started.out)?.[1];
  const hash = /statecraft approve \S+ c_write --hash ([0-9a-f]+)/.exec(started.out)?.[1];
  assert.ok(runId && hash, started.out);
  const records = async () => (JSON.parse((await statecraft(['history', runId!, '--json'])).stdout) as unknown[]).length;
  const before = await records();
  const ran = trace().length;
  const attempts: [string[], string][] = [
    [['approve', runId!, 'c_nope'], 'no tool call c_nope is waiting for approval, so nothing was decided. Calls waiting: c_write (write), c_email (email)'],
    [['approve', runId!, 'c_write', '--hash', '0000000000000000'], `names arguments hash 0000000000000000, but the call's arguments hash is ${hash}`],
    [['approve', runId!, '--hash', hash!], '--hash names the arguments of one call'],
    [['approve', runId!, 'c_write', '--actor', 'helper'], 'tool call c_write is not waiting in agent "helper"; it waits in the run\'s own agent'],
    [['reject', runId!, 'c_lookup', '--reason', 'no'], 'no tool call c_lookup is waiting for approval'],
    [['reject', runId!, 'c_email', '--reason', 'no', '--hash', 'beef'], 'names arguments hash beef'],
  ];
  for (const [args, message] of attempts) {
    const refused = await statecraft(args);
    assert.is(refused.code, 2, `${args.join(' ')}: ${refused.out}`);
    assert.match(refused.out, message);
    assert.not.match(refused.out, 'waiting ·', 'the run was not resumed');
    assert.not.match(refused.out, 'scripted model', 'no model server started');
  }
  assert.is(await records(), before, 'no record was written');
  assert.is(trace().length, ran, 'no tool ran');
  const approved = await statecraft(['approve', runId!, 'c_write', '--hash', hash!]);
  assert.is(approved.code, 4, `c_email still waits: ${approved.out}`);
  const rejected = await statecraft(['reject', runId!, 'c_email', '--reason', 'Not to outsiders.']);
  assert.is(rejected.code, 0, rejected.out);
  assert.ok(trace().slice(ran).includes('write report.md'), 'the approved call ran once decisions were valid');
  assert.not.ok(trace().some((line) => line.startsWith('email')), 'the rejected call never ran');
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
