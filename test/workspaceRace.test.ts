import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { noSecrets } from '../src/credentials/Secrets.ts';
import { filesystemTools } from '../src/toolsets/filesystem/filesystemTools.ts';
import { runTool } from '../src/tools/runTool.ts';
import { createToolbox } from '../src/tools/toolbox.ts';

const base = realpathSync(mkdtempSync(join(tmpdir(), 'statecraft-race-')));
const root = join(base, 'ws');
mkdirSync(join(root, 'race'), { recursive: true });
mkdirSync(join(root, 'other'));
writeFileSync(join(root, 'race', 'f.txt'), 'in the folder\n');
writeFileSync(join(root, 'other', 'f.txt'), 'through the link\n');

// Swaps "race" between a folder and a symbolic link to "other" as fast as it can, in another thread,
// so that every step of a path resolution can meet either.
const swapper = `
  const { workerData } = require('node:worker_threads');
  const fs = require('node:fs');
  const { root, stop } = workerData;
  const flag = new Int32Array(stop);
  const race = root + '/race', held = root + '/race.held';
  while (Atomics.load(flag, 0) === 0) {
    try {
      fs.renameSync(race, held);
      fs.symlinkSync('other', race);
      fs.unlinkSync(race);
      fs.renameSync(held, race);
    } catch {}
  }
`;

const tools = new Map(filesystemTools({ root, approval: { writes: false } }).map((t) => [t.name, t]));
const calls: [string, Record<string, unknown>][] = [
  ['read_file', { path: 'race/f.txt', offset: null, limit: null }],
  ['write_file', { path: 'race/new.txt', content: 'written' }],
  ['edit_file', { path: 'race/f.txt', old_text: 'nothing like this', new_text: 'x', replace_all: null }],
  ['list_files', { path: 'race', recursive: true, max_depth: null, include_ignored: null }],
  ['search_files', { pattern: 'the', regex: null, path: 'race', glob: null, case_sensitive: null, max_results: null }],
];

test('under a folder/symlink swap race every failure is a refusal naming the path asked for, never an internal path', async () => {
  const stop = new SharedArrayBuffer(4);
  const worker = new Worker(swapper, { eval: true, workerData: { root, stop } });
  const failures = new Map<string, number>();
  let succeeded = 0;
  try {
    for (let round = 0; round < 150; round++) {
      for (const [name, args] of calls) {
        const tool = tools.get(name)!;
        const checked = createToolbox([tool]).validateCall({ id: 'call_1', name, arguments: JSON.stringify(args) });
        if (!checked.ok) throw new Error(checked.message);
        const result = await runTool(tool, checked.args, {
          ctx: { runId: 'run_1', callId: 'call_1', idempotencyKey: 'run_1:call_1', toolName: name, secrets: noSecrets },
        });
        assert.not.match(result.content, '/proc/self/fd', `${name}: ${result.content}`);
        assert.not.match(result.content, base, `${name} names a host path: ${result.content}`);
        if (!result.isError) {
          succeeded += 1;
          continue;
        }
        const isEditMiss = name === 'edit_file' && /old_text was not found/.test(result.content);
        if (!isEditMiss) {
          assert.match(result.content, /^Tool "\w+" failed: Refused path "race/, `${name}: ${result.content}`);
          const reason = /Refused path "[^"]*": (.{0,40})/.exec(result.content)?.[1] ?? '?';
          failures.set(reason, (failures.get(reason) ?? 0) + 1);
        }
      }
    }
  } finally {
    Atomics.store(new Int32Array(stop), 0, 1);
    await worker.terminate();
  }
  assert.ok(succeeded > 0, 'some calls got through');
});

test.after(() => rmSync(base, { recursive: true, force: true }));

test.run();
