// Files stay small enough to read in one sitting: at most 300 lines, but for the few listed below,
// each held at the size it has now until it is split. A file that shrinks under the limit leaves the list.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const ROOT = new URL('..', import.meta.url).pathname;
const LIMIT = 300;
const HELD: Record<string, number> = {
  'src/model/openaiModel.ts': 306,
  'src/log/format/record.ts': 322,
  'src/runtime/Run.ts': 439,
  'src/recorder/Recorder.ts': 363,
  'src/telemetry/RunTelemetry.ts': 379,
  'src/log/stores/postgres/postgresStore.ts': 344,
  'src/toolsets/filesystem/Workspace.ts': 437,
};

function* sources(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* sources(path);
    else if (/\.(ts|js|mjs|cjs)$/.test(entry.name)) yield relative(ROOT, path);
  }
}

const linesOf = (path: string) => readFileSync(join(ROOT, path), 'utf8').split('\n').length - 1;

test(`every source file in src/ and machines/ has at most ${LIMIT} lines, or no more than the size it is held at`, () => {
  const over: string[] = [];
  for (const path of [...sources(join(ROOT, 'src')), ...sources(join(ROOT, 'machines'))]) {
    const lines = linesOf(path);
    const most = HELD[path] ?? LIMIT;
    if (lines > most) over.push(`${path}: ${lines} lines, more than ${most}; split it by concept, a file for each main export`);
  }
  assert.equal(over, []);
});

test('a held file that is back under the limit leaves the list', () => {
  const stale = Object.keys(HELD).filter((path) => linesOf(path) <= LIMIT);
  assert.equal(stale, [], 'remove these from HELD in test/fileSize.test.ts');
});

test.run();
