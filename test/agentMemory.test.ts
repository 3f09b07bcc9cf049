// One conformance suite for the three memory stores: in memory, SQLite (FTS5) and PostgreSQL (tsvector).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ConflictError } from '../src/errors.ts';
import type { AgentMemoryStore } from '../src/memory/agentMemoryStore.ts';
import { InMemoryAgentMemory } from '../src/memory/InMemoryAgentMemory.ts';
import { openAgentMemory } from '../src/memory/openAgentMemory.ts';

const PG_URL = process.env.STATECRAFT_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

interface Backing {
  memory: AgentMemoryStore;
  /** Every row left in the memory tables (and the full-text index) that holds `word`. */
  traces(word: string): Promise<string[]>;
  dispose(): Promise<void>;
}

const backings: Record<string, () => Promise<Backing>> = {
  memory: async () => {
    const memory = new InMemoryAgentMemory();
    return {
      memory,
      traces: async (word) => [
        ...(await memory.notes(ann)).filter((n) => n.text.includes(word)).map((n) => n.id),
        ...(await memory.notes({ tenant: 't', agent: 'a' })).filter((n) => n.text.includes(word)).map((n) => n.id),
        ...[await memory.working(ann)].filter((w) => w && JSON.stringify(w.value).includes(word)).map((w) => `working:${w!.version}`),
      ],
      dispose: () => memory.close(),
    };
  },
  sqlite: async () => {
    const dir = mkdtempSync(join(tmpdir(), 'statecraft-memory-'));
    const path = join(dir, 'runs.db');
    const memory = openAgentMemory(`sqlite:${path}`);
    return {
      memory,
      traces: async (word) => {
        const db = new Database(path, { readonly: true });
        try {
          db.exec("CREATE VIRTUAL TABLE temp.vocab USING fts5vocab(main, 'memory_notes_fts', 'row')");
          const like = `%${word}%`;
          return [
            ...db.prepare<[string], { id: string }>('SELECT id FROM memory_notes WHERE text LIKE ?').all(like).map((r) => `notes:${r.id}`),
            ...db.prepare<[string], { id: number }>('SELECT id FROM memory_notes_fts_content WHERE c0 LIKE ?').all(like).map((r) => `fts content:${r.id}`),
            ...db.prepare<[string], { term: string }>('SELECT term FROM temp.vocab WHERE term = ?').all(word.toLowerCase()).map((r) => `fts index:${r.term}`),
            ...db.prepare<[string], { version: number }>('SELECT version FROM memory_working WHERE value LIKE ?').all(like).map((r) => `working:${r.version}`),
          ];
        } finally {
          db.close();
        }
      },
      dispose: async () => {
        await memory.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
  postgres: async () => {
    const schema = `mem_${randomBytes(6).toString('hex')}`;
    const memory = openAgentMemory(`${PG_URL}?schema=${schema}`);
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    return {
      memory,
      traces: async (word) => {
        const like = `%${word}%`;
        const notes = await client.query(`SELECT id FROM "${schema}".memory_notes WHERE text LIKE $1 OR tsv @@ to_tsquery('english', $2)`, [like, word.toLowerCase()]);
        const working = await client.query(`SELECT version FROM "${schema}".memory_working WHERE value::text LIKE $1`, [like]);
        return [...notes.rows.map((r) => `notes:${r.id}`), ...working.rows.map((r) => `working:${r.version}`)];
      },
      dispose: async () => {
        await memory.close();
        await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        await client.end();
      },
    };
  },
};

const ann = { tenant: 't', user: 'ann', agent: 'a' };
const bob = { tenant: 't', user: 'bob', agent: 'a' };

for (const [name, open] of Object.entries(backings)) {
  const it = suite(`agent memory (${name})`);
  let b: Backing;
  it.before.each(async () => {
    b = await open();
  });
  it.after.each(async () => {
    await b.dispose();
  });

  it('recalls by words within the scope only, best match first', async () => {
    await b.memory.remember({ scope: ann, text: 'Ann prefers tea over coffee', tags: ['drinks'] });
    const keys = await b.memory.remember({ scope: ann, text: 'The office door code is 4412', tags: [] });
    await b.memory.remember({ scope: bob, text: 'Bob keeps the door code in his notebook', tags: [] });
    const found = await b.memory.recall(ann, { text: 'What is the door code?', limit: 5 });
    assert.equal(found.map((n) => n.id), [keys.id]);
    assert.equal(found[0]!.scope, { tenant: 't', user: 'ann', agent: 'a', thread: '' });
    assert.ok(found[0]!.score > 0);
    assert.equal((await b.memory.recall({ tenant: 'other', user: 'ann', agent: 'a' }, { text: 'door code', limit: 5 })).length, 0);
    assert.equal((await b.memory.recall(ann, { text: 'drinks', limit: 5 })).map((n) => n.text), ['Ann prefers tea over coffee']);
    assert.equal((await b.memory.recall(ann, { text: '?!', limit: 5 })).length, 0);
  });

  it('ranks semantic recall by cosine similarity and drops notes under minScore', async () => {
    const near = await b.memory.remember({ scope: ann, text: 'north', embedding: [1, 0, 0] });
    const mid = await b.memory.remember({ scope: ann, text: 'north-east', embedding: [1, 1, 0] });
    await b.memory.remember({ scope: ann, text: 'up', embedding: [0, 0, 1] });
    await b.memory.remember({ scope: bob, text: 'north too', embedding: [1, 0, 0] });
    const found = await b.memory.recall(ann, { text: 'ignored', embedding: [0.9, 0.1, 0], limit: 5, minScore: 0.5 });
    assert.equal(found.map((n) => n.id), [near.id, mid.id]);
    assert.ok(Math.abs(found[0]!.score - 0.9939) < 0.001, String(found[0]!.score));
  });

  it('recall returns the right notes from a set of 1,000', async () => {
    const topics = Array.from({ length: 100 }, (_, i) => `topic${i}`);
    const fillers = ['report', 'meeting', 'budget', 'schedule', 'design', 'review', 'draft', 'release'];
    const ids = new Map<string, string[]>();
    for (let i = 0; i < 1000; i++) {
      const topic = topics[i % 100]!;
      const note = await b.memory.remember({ scope: ann, text: `Note ${i} about ${topic}: ${fillers[i % 8]} and ${fillers[(i * 3) % 8]} follow-up`, tags: [fillers[i % 5]!] });
      ids.set(topic, [...(ids.get(topic) ?? []), note.id]);
    }
    for (const topic of ['topic7', 'topic42', 'topic99']) {
      const found = await b.memory.recall(ann, { text: `What did we say about ${topic} in the meeting?`, limit: 10 });
      assert.equal(found.length, 10);
      assert.equal(new Set(found.map((n) => n.id)), new Set(ids.get(topic)), `recall of ${topic}`);
    }
    assert.equal((await b.memory.notes(ann, { limit: 3 })).length, 3);
  });

  it('forgets a note by id (within its tenant only) and leaves no trace of it', async () => {
    const note = await b.memory.remember({ scope: ann, text: 'Secret word zanzibarian', tags: ['private'] });
    assert.is(await b.memory.forget(note.id, { tenant: 'another' }), false);
    assert.is((await b.memory.recall(ann, { text: 'zanzibarian', limit: 5 })).length, 1);
    assert.is(await b.memory.forget(note.id, { tenant: 't' }), true);
    assert.is(await b.memory.forget(note.id), false);
    assert.equal(await b.memory.recall(ann, { text: 'zanzibarian', limit: 5 }), []);
    assert.equal(await b.traces('zanzibarian'), []);
  });

  it("forgets everything of a user: notes in their scope, notes written in their runs, their working memory", async () => {
    await b.memory.remember({ scope: ann, text: 'Ann likes quokkaberries' });
    await b.memory.remember({ scope: { tenant: 't', agent: 'a' }, text: 'A user mentioned quokkaberries once', writtenBy: 'ann' });
    await b.memory.saveWorking(ann, { fruit: 'quokkaberries' }, { expectedVersion: 0 });
    const kept = await b.memory.remember({ scope: bob, text: 'Bob likes quokkaberries too' });
    assert.ok((await b.traces('quokkaberries')).length >= 3);
    assert.is(await b.memory.forgetUser('ann', { tenant: 't' }), 3);
    assert.equal(await b.memory.working(ann), undefined);
    assert.equal((await b.memory.recall(bob, { text: 'quokkaberries', limit: 5 })).map((n) => n.id), [kept.id]);
    await b.memory.forgetUser('bob');
    assert.equal(await b.traces('quokkaberries'), []);
  });

  it('keeps every version of working memory and refuses a change made from an old one', async () => {
    assert.equal(await b.memory.working(ann), undefined);
    const first = await b.memory.saveWorking(ann, { city: 'Oslo' }, { expectedVersion: 0, runId: 'run-1' });
    assert.is(first.version, 1);
    const second = await b.memory.saveWorking(ann, { city: 'Bergen', kids: 2 }, { expectedVersion: 1, runId: 'run-2' });
    assert.equal((await b.memory.working(ann))?.value, { city: 'Bergen', kids: 2 });
    assert.is(second.version, 2);
    assert.is((await b.memory.working(ann))?.runId, 'run-2');
    assert.equal(await b.memory.working(bob), undefined);
    try {
      await b.memory.saveWorking(ann, { city: 'Tromsø' }, { expectedVersion: 1 });
      assert.unreachable('a change from version 1 was saved over version 2');
    } catch (error) {
      assert.instance(error, ConflictError);
      assert.match((error as Error).message, /version 2, not 1/);
    }
  });

  it.run();
}

const test = suite('agent memory (postgres only)');

test('keeps no GIN pending list, also on an index made before; recall counts each lexeme once and no stop words', async () => {
  const schema = `mem_${randomBytes(6).toString('hex')}`;
  const url = `${PG_URL}?schema=${schema}`;
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  const options = async () => (await client.query(`SELECT reloptions FROM pg_class WHERE oid = '"${schema}".memory_notes_tsv'::regclass`)).rows[0]?.reloptions;
  try {
    const first = openAgentMemory(url);
    const door = await first.remember({ scope: ann, text: 'The meeting room door code is 4412' });
    await first.close();
    assert.equal(await options(), ['fastupdate=off']);
    await client.query(`ALTER INDEX "${schema}".memory_notes_tsv RESET (fastupdate)`);
    assert.equal(await options(), null);
    const again = openAgentMemory(url);
    await again.remember({ scope: ann, text: 'Lunch is at noon' });
    assert.equal(await options(), ['fastupdate=off']);
    assert.equal(await again.recall(ann, { text: 'What is it and where are they?', limit: 5 }), []);
    const found = await again.recall(ann, { text: 'meetings meeting door', limit: 5 });
    assert.equal(found.map((n) => n.id), [door.id]);
    // Both words are the lexeme "meet": counted once, as in a question that says it once.
    assert.is(found[0]!.score, (await again.recall(ann, { text: 'meeting door', limit: 5 }))[0]!.score);
    await again.close();
  } finally {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await client.end();
  }
});

test.run();
