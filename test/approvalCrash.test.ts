import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SqliteStore } from '../src/index.ts';
import { cli, cliIn, root } from './fixtures/cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'statecraft-approval-'));
const { statecraft, trace, storeUrl, env } = cliIn(dir);

test('parallel calls under allow, ask, deny, ask survive a kill while waiting; decisions from new processes finish the run', async () => {
  const child = spawn(process.execPath, [cli, 'run', 'test/fixtures/approval/agent.ts', '--approve', 'ask', '--store', storeUrl, '--json'], {
    cwd: root,
    env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let runId = '';
  child.stdout.on('data', (chunk: Buffer) => {
    const match = /"runId":"([^"]+)"/.exec(chunk.toString());
    if (match) runId ||= match[1]!;
  });
  const store = new SqliteStore({ path: join(dir, 'runs.db') });
  const deadline = Date.now() + 20_000;
  while (!runId || (await store.summary(runId).catch(() => undefined))?.status !== 'waiting') {
    if (Date.now() > deadline) throw new Error('the run never came to wait for approval');
    await new Promise((r) => setTimeout(r, 20));
  }
  child.kill('SIGKILL');
  await new Promise((done) => child.on('exit', done));

  const listed = (JSON.parse((await statecraft(['runs', '--json'])).stdout) as unknown[])[0] as {
    status: string;
    waitingOn: { callId: string; tool: string; arguments: string; policy: { decision: string; source: string } }[];
  };
  assert.is(listed.status, 'waiting');
  assert.equal(listed.waitingOn.map((w) => [w.callId, w.tool, w.policy.decision]), [['c_write', 'write', 'ask'], ['c_email', 'email', 'ask']]);
  assert.is(listed.waitingOn[1]!.arguments, '{"target":"boss@elsewhere.org"}');
  assert.equal(trace(), [], 'nothing ran while waiting');

  const approved = await statecraft(['approve', runId, 'c_write', '--by', 'ana']);
  assert.is(approved.code, 4, `still waiting on the other call: ${approved.stdout}\n${(await statecraft(['history', runId])).stdout}`);
  const rejected = await statecraft(['reject', runId, 'c_email', '--reason', 'Do not email outside the company.', '--by', 'ana']);
  assert.is(rejected.code, 0, rejected.stdout);

  assert.equal(trace(), ['lookup inventory', 'write report.md'], 'the allowed and approved calls ran once; denied and rejected never');
  const answer = (await statecraft(['show', runId, '--json'])).stdout;
  const { snapshot } = JSON.parse(answer) as { snapshot: { context: { output: string } } };
  assert.equal(snapshot.context.output.split('\n').map((line) => line.split('=')[0]), ['c_lookup', 'c_write', 'c_purge', 'c_email']);
  assert.match(snapshot.context.output, /c_purge=Tool call c_purge \(purge\) was denied by the agent mixed-policies policy/);
  assert.match(snapshot.context.output, /c_email=Do not email outside the company\./);

  const history = (await statecraft(['history', runId])).stdout;
  assert.match(history, /approved c_write by ana \(args [0-9a-f]{16}\)/);
  assert.match(history, /rejected c_email by ana: Do not email outside the company\./);
  await store.close();
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
