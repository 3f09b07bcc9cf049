// Commands the CLI suggests in its hints and errors, taken from what it printed and run as printed
// with a shell, from a project that depends on Statecraft (where `npx statecraft` finds its bin).
import { exec as execShell } from 'node:child_process';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cliIn, root } from './fixtures/cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'statecraft-cli-suggested-'));
const { statecraft, storeUrl, env } = cliIn(dir);

// A project with Statecraft installed, as npm links it: the package in node_modules and its bin in node_modules/.bin.
const project = join(dir, 'project');
mkdirSync(join(project, 'node_modules/.bin'), { recursive: true });
writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'uses-statecraft', private: true, type: 'module' }));
symlinkSync(root, join(project, 'node_modules/statecraft'), 'dir');
symlinkSync('../statecraft/bin/statecraft.js', join(project, 'node_modules/.bin/statecraft'));

/** The suggested commands in `text`: each `npx statecraft …` up to a closing backtick, a parenthesis, a comment or the line's end. */
const suggested = (text: string): string[] => [...text.matchAll(/npx statecraft [^`\n#()]*/g)].map((match) => match[0].trim().replace(/[.,]$/, ''));

/** Runs a suggested command in the project, with a shell, as a user pasting it would. */
const paste = (command: string) =>
  new Promise<{ code: number; out: string }>((resolve) => {
    execShell(command, { cwd: project, env: { ...env, npm_config_offline: 'true', npm_config_update_notifier: 'false' }, timeout: 60_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, out: stdout + stderr }),
    );
  });

/** Every command suggested in `text` is accepted: it runs, and is no usage error (exit 2). */
async function assertAccepted(text: string, expected: number) {
  const commands = suggested(text);
  assert.is(commands.length, expected, `suggested commands in:\n${text}`);
  for (const command of commands) {
    const { code, out } = await paste(command);
    assert.ok(code !== 2 && code !== 127, `"${command}" was refused (exit ${code}):\n${out}`);
  }
  return commands;
}

test('a mistyped command or option suggests help that runs as printed', async () => {
  const command = await statecraft(['histroy']);
  assert.is(command.code, 2);
  await assertAccepted(command.out, 1);
  const option = await statecraft(['runs', '--limt', '3']);
  assert.is(option.code, 2);
  await assertAccepted(option.out, 1);
});

test('a run that waits for approval suggests approve and reject commands that decide it as printed', async () => {
  const started = await statecraft(['run', 'test/fixtures/approval/agent.ts', '--approve', 'wait']);
  assert.is(started.code, 4, started.out);
  const commands = suggested(started.out);
  assert.ok(commands.every((command) => command.includes(`--store ${storeUrl}`)), `each names the store the run is in: ${commands.join('\n')}`);
  const [approveWrite, approveEmail, reject] = commands;
  assert.match(approveWrite!, /^npx statecraft approve \S+ c_write --hash [0-9a-f]+ --store /);
  assert.match(approveEmail!, /^npx statecraft approve \S+ c_email --hash [0-9a-f]+ --store /);
  assert.match(reject!, /^npx statecraft reject \S+ c_write --hash [0-9a-f]+ --reason 'Not now.' --store /);
  const rejected = await paste(reject!);
  assert.is(rejected.code, 4, `c_email still waits: ${rejected.out}`);
  const approved = await paste(approveEmail!);
  assert.ok(approved.code !== 2 && approved.code !== 4, approved.out);
  const decisions = (await statecraft(['history', started.out.match(/Run (\S+) waits/)![1]!])).out;
  assert.match(decisions, 'rejected c_write');
  assert.match(decisions, 'approved c_email');
});

test('a fork suggests the resume that continues it, an ended run the fork and history, a run not found the listing, all with the store', async () => {
  const runs = JSON.parse((await statecraft(['runs', '--json'])).stdout) as { runId: string }[];
  const forked = await statecraft(['fork', runs[0]!.runId, '--at', '0']);
  assert.is(forked.code, 0, forked.out);
  const [resume] = await assertAccepted(forked.out, 1);
  assert.match(resume!, `--store ${storeUrl}`);
  const ended = (JSON.parse((await statecraft(['runs', '--json'])).stdout) as { runId: string; status: string }[]).find((run) => run.status === 'done');
  assert.ok(ended, 'the decided run has ended');
  const refused = await statecraft(['resume', ended!.runId]);
  assert.is(refused.code, 2, refused.out);
  await assertAccepted(refused.out, 2);
  const missing = await statecraft(['show', 'no-such-run']);
  assert.is(missing.code, 2);
  await assertAccepted(missing.out, 1);
});

test.run();
