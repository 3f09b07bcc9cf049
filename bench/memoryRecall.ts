// Recall latency over 100,000 notes in one user's scope (the worst case: every note a candidate),
// SQLite (FTS5, bm25) and PostgreSQL (tsvector, GIN). The notes are loaded in bulk straight into the
// store's tables (made by a first `remember`); each recall then goes through the store's `recall`, as
// an agent's request does. Notes are 12 words drawn from 5,000 made-up words; a query is a question
// with 4 of them. Reported beside the target: p95 ≤ 20 ms.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import type { AgentMemoryStore } from '../src/memory/agentMemoryStore.ts';
import { openAgentMemory } from '../src/memory/openAgentMemory.ts';

const NOTES = Number(process.env.BENCH_NOTES ?? 100_000);
const QUERIES = 300;
const TARGET_P95_MS = 20;
const PG_URL = process.env.STATECRAFT_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const scope = { tenant: 'bench', user: 'ann', agent: 'assistant' };

// A small deterministic generator, so every run loads the same notes and asks the same questions.
let seed = 42;
const random = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
const syllables = ['ka', 'lo', 'mi', 'ter', 'sun', 'vo', 'ri', 'pa', 'den', 'shu', 'bel', 'nor', 'qui', 'zan', 'ex', 'mar'];
const vocabulary = Array.from({ length: 5000 }, (_, i) => syllables[i % 16]! + syllables[Math.floor(i / 16) % 16]! + syllables[Math.floor(i / 256) % 16]! + (i >= 4096 ? 'ol' : ''));
const word = () => vocabulary[Math.floor(random() * vocabulary.length)]!;
const noteText = () => Array.from({ length: 12 }, word).join(' ');
const question = () => `What did I say about the ${word()} and ${word()} near ${word()} ${word()}?`;

const percentile = (values: number[], p: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor((values.length * p) / 100))]!;

async function measure(memory: AgentMemoryStore): Promise<{ p50: number; p95: number; found: number }> {
  const questions = Array.from({ length: QUERIES }, question);
  for (const text of questions.slice(0, 20)) await memory.recall(scope, { text, limit: 5 });
  const ms: number[] = [];
  let found = 0;
  for (const text of questions) {
    const started = performance.now();
    found += (await memory.recall(scope, { text, limit: 5 })).length;
    ms.push(performance.now() - started);
  }
  return { p50: percentile(ms, 50), p95: percentile(ms, 95), found: found / QUERIES };
}

async function sqlite() {
  const dir = mkdtempSync(join(tmpdir(), 'statecraft-bench-memory-'));
  const path = join(dir, 'runs.db');
  const memory = openAgentMemory(`sqlite:${path}`);
  try {
    await memory.remember({ scope, text: noteText() });
    const db = new Database(path);
    const note = db.prepare("INSERT INTO memory_notes (id, tenant, user_id, agent, thread, written_by, text, tags, created_at) VALUES (?, ?, ?, ?, '', ?, ?, '[]', ?)");
    const fts = db.prepare("INSERT INTO memory_notes_fts (rowid, text, tags) VALUES (?, ?, '')");
    db.transaction(() => {
      for (let i = 1; i < NOTES; i++) {
        const text = noteText();
        fts.run(note.run(randomUUID(), scope.tenant, scope.user, scope.agent, scope.user, text, new Date().toISOString()).lastInsertRowid, text);
      }
    })();
    db.close();
    return await measure(memory);
  } finally {
    await memory.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function postgres() {
  const schema = `bench_memory_${process.pid}`;
  const memory = openAgentMemory(`${PG_URL}?schema=${schema}`);
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    await memory.remember({ scope, text: noteText() });
    for (let done = 1; done < NOTES; done += 5000) {
      const texts = Array.from({ length: Math.min(5000, NOTES - done) }, noteText);
      await client.query(
        `INSERT INTO "${schema}".memory_notes (id, tenant, user_id, agent, thread, written_by, text, tags, tag_words, created_at)
         SELECT gen_random_uuid()::text, $1, $2, $3, '', $2, t, '{}', '', now() FROM unnest($4::text[]) AS t`,
        [scope.tenant, scope.user, scope.agent, texts],
      );
    }
    await client.query(`ANALYZE "${schema}".memory_notes`);
    return await measure(memory);
  } finally {
    await memory.close();
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await client.end();
  }
}

/** The recall table: p50 and p95 of `recall` over NOTES notes in one scope, beside the target. */
export async function memoryRecall(): Promise<string> {
  const rows = [
    `Recall latency, ${NOTES.toLocaleString('en-US')} notes in one scope, ${QUERIES} questions of 4 words each (limit 5). Node ${process.version}, load average ${loadavg()[0]!.toFixed(1)} at the start.`,
    '',
    '| store | p50 ms | p95 ms | notes found per recall | target p95 ms | |',
    '|---|---|---|---|---|---|',
  ];
  for (const [name, run] of [['SQLite (FTS5)', sqlite], ['PostgreSQL (tsvector)', postgres]] as const) {
    const { p50, p95, found } = await run();
    rows.push(`| ${name} | ${p50.toFixed(2)} | ${p95.toFixed(2)} | ${found.toFixed(1)} | ${TARGET_P95_MS} | ${p95 <= TARGET_P95_MS ? 'within' : 'OVER'} |`);
  }
  return rows.join('\n');
}
