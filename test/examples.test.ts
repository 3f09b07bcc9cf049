import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createProgress } from '../src/cli/progress.ts';
import { runAgent, startRun } from '../src/index.ts';
import { scriptedModel } from '../src/testing/index.ts';
import * as compose from '../examples/compose/agent.ts';
import * as demo from '../examples/demo/agent.ts';
import * as extend from '../examples/extend/agent.ts';

test('the demo agent lists, counts and recovers from its malformed call', async () => {
  const model = scriptedModel(demo.script, { model: 'scripted-demo' });
  const result = await runAgent(demo.agent, demo.input, { model });
  assert.is(result.status, 'done');
  assert.match(result.output ?? '', /examples\/demo\/agent\.ts: \d+ lines/);
  assert.ok(result.costUsd > 0);
  model.assertDone();
});

test('the demo\'s progress shows its malformed call refused with the reason', async () => {
  const model = scriptedModel(demo.script, { model: 'scripted-demo' });
  const run = startRun(demo.agent, { input: demo.input, model });
  let out = '';
  run.on(createProgress((text) => (out += text), false));
  assert.is((await run.result).status, 'done');
  assert.match(out, /  ✗ count_lines call_\d+: .*could not be parsed as JSON/);
  assert.match(out, /\$0\.\d{4}/, 'the demo model is priced');
});

test('an extended machine adds a state: the uncited answer is sent back once', async () => {
  const model = scriptedModel(extend.script);
  const result = await runAgent(extend.agent, extend.input, { model });
  assert.is(result.status, 'done');
  assert.match(result.output ?? '', /\[1\]/);
  assert.is(result.steps, 2);
  model.assertDone();
});

test('a machine of your own invokes two agents as children and the runtime runs it', async () => {
  const model = scriptedModel(compose.script);
  const result = await runAgent(compose.agent, compose.input, { model });
  assert.is(result.status, 'done');
  assert.match(result.output ?? '', /^In short: XState v5 persists snapshots/);
  assert.is(result.steps, 3, 'two researcher turns and one writer turn');
  assert.is(model.calls[2]!.messages.filter((m) => m.role === 'system').length, 1);
  model.assertDone();
});

test('the filesystem agent fixes the scratch workspace, with approvals, the sandbox and the tests as fitness', async () => {
  const { cpSync, mkdtempSync, readFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { startRun } = await import('../src/index.ts');
  // The example works in WORKSPACE when it is set, and otherwise copies its template under the working
  // directory (.statecraft/workspaces): given a copy in a temp folder, it writes nothing into the repo.
  const workspace = mkdtempSync(join(tmpdir(), 'statecraft-fs-agent-'));
  cpSync(join(import.meta.dirname, '../examples/filesystem-agent/template'), workspace, { recursive: true });
  const before = process.env.WORKSPACE;
  process.env.WORKSPACE = workspace;
  const fs = await import('../examples/filesystem-agent/agent.ts').finally(() => {
    if (before === undefined) delete process.env.WORKSPACE;
    else process.env.WORKSPACE = before;
  });
  try {
    assert.is(fs.root, workspace, 'the agent works in the temp copy, outside the repo');
    const model = scriptedModel(fs.script, { model: 'scripted-demo' });
    const run = startRun(fs.agent, { input: fs.input, model });
    const asked: string[] = [];
    run.on((event) => {
      if (event.type === 'approval.requested') for (const call of event.calls) setImmediate(() => (asked.push(call.name), run.approve(call.id)));
    });
    const result = await run.result;
    assert.is(result.status, 'done', result.detail);
    assert.match(result.output ?? '', /Both tests pass/);
    assert.equal(asked, ['run_command', 'edit_file', 'run_command'], 'commands and edits wait for approval; reads do not');
    assert.match(readFileSync(join(fs.root, 'src/slugify.js'), 'utf8'), /\[\^a-z0-9\]\+/);
    assert.equal(run.context.fitness?.['tests-pass']?.ok, true);
    model.assertDone();
  } finally {
    rmSync(workspace, { recursive: true, force: true });
  }
});

test.run();
