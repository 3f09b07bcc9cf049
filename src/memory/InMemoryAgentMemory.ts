import { randomUUID } from 'node:crypto';
import {
  checkLimit,
  cosine,
  storedScope,
  topScored,
  wordsOf,
  workingConflict,
  type AgentMemoryStore,
  type MemoryScope,
  type NewNote,
  type Note,
  type RecallQuery,
  type RecalledNote,
  type StoredScope,
  type WorkingMemory,
} from './agentMemoryStore.ts';

const sameScope = (a: StoredScope, b: StoredScope) => a.tenant === b.tenant && a.user === b.user && a.agent === b.agent && a.thread === b.thread;

interface Kept {
  note: Note;
  words: string[];
  embedding: readonly number[] | undefined;
}

/**
 * Notes and working memory in this process only, for tests and embedded use: full-text recall ranks
 * by BM25 over the scope's notes, semantic recall by cosine similarity.
 * @example
 * const memory = new InMemoryAgentMemory();
 */
export class InMemoryAgentMemory implements AgentMemoryStore {
  readonly #notes = new Map<string, Kept>();
  readonly #working: WorkingMemory[] = [];

  async remember(note: NewNote): Promise<Note> {
    const saved: Note = {
      id: randomUUID(),
      scope: storedScope(note.scope),
      text: note.text,
      tags: [...(note.tags ?? [])],
      writtenBy: note.writtenBy ?? note.scope.user ?? '',
      runId: note.runId ?? null,
      createdAt: new Date().toISOString(),
    };
    const words = (`${note.text} ${saved.tags.join(' ')}`.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []);
    this.#notes.set(saved.id, { note: saved, words, embedding: note.embedding ? [...note.embedding] : undefined });
    return structuredClone(saved);
  }

  async recall(scope: MemoryScope, query: RecallQuery): Promise<RecalledNote[]> {
    const limit = checkLimit(query.limit);
    const wanted = storedScope(scope);
    const kept = [...this.#notes.values()].filter((k) => sameScope(k.note.scope, wanted));
    if (query.embedding) {
      const scored = kept.filter((k) => k.embedding).map((k) => ({ ...structuredClone(k.note), score: cosine(query.embedding!, k.embedding!) }));
      return topScored(scored, limit, query.minScore);
    }
    const terms = wordsOf(query.text);
    if (!terms.length || !kept.length) return [];
    // BM25 (k1 1.2, b 0.75) over the scope's notes, as SQLite's FTS5 ranks.
    const average = kept.reduce((n, k) => n + k.words.length, 0) / kept.length;
    const idf = new Map(terms.map((term) => {
      const has = kept.filter((k) => k.words.includes(term)).length;
      return [term, Math.log((kept.length - has + 0.5) / (has + 0.5) + 1)];
    }));
    const scored: RecalledNote[] = [];
    for (const k of kept) {
      let score = 0;
      for (const term of terms) {
        const f = k.words.filter((word) => word === term).length;
        if (f) score += idf.get(term)! * ((f * 2.2) / (f + 1.2 * (0.25 + (0.75 * k.words.length) / average)));
      }
      if (score > 0) scored.push({ ...structuredClone(k.note), score });
    }
    return topScored(scored, limit);
  }

  async notes(scope: MemoryScope, options: { limit?: number } = {}): Promise<Note[]> {
    const wanted = storedScope(scope);
    return [...this.#notes.values()]
      .filter((k) => sameScope(k.note.scope, wanted))
      .map((k) => structuredClone(k.note))
      .reverse()
      .slice(0, options.limit ?? 100);
  }

  async forget(id: string, within: Pick<MemoryScope, 'tenant' | 'user'> = {}): Promise<boolean> {
    const kept = this.#notes.get(id);
    if (!kept) return false;
    if (within.tenant !== undefined && kept.note.scope.tenant !== within.tenant) return false;
    if (within.user !== undefined && kept.note.scope.user !== within.user && kept.note.writtenBy !== within.user) return false;
    return this.#notes.delete(id);
  }

  async forgetUser(user: string, options: { tenant?: string } = {}): Promise<number> {
    const theirs = (scope: StoredScope, writtenBy: string) =>
      (scope.user === user || writtenBy === user) && (options.tenant === undefined || scope.tenant === options.tenant);
    let count = 0;
    for (const [id, kept] of this.#notes) if (theirs(kept.note.scope, kept.note.writtenBy) && this.#notes.delete(id)) count++;
    for (let i = this.#working.length - 1; i >= 0; i--) {
      if (theirs(this.#working[i]!.scope, this.#working[i]!.writtenBy)) this.#working.splice(i, 1), count++;
    }
    return count;
  }

  async working(scope: MemoryScope): Promise<WorkingMemory | undefined> {
    const wanted = storedScope(scope);
    const found = this.#working.filter((w) => sameScope(w.scope, wanted)).at(-1);
    return found && structuredClone(found);
  }

  async saveWorking(scope: MemoryScope, value: Record<string, unknown>, options: { expectedVersion: number; writtenBy?: string; runId?: string }): Promise<WorkingMemory> {
    const current = await this.working(scope);
    const found = current?.version ?? 0;
    const stored = storedScope(scope);
    if (found !== options.expectedVersion) throw workingConflict(stored, options.expectedVersion, found);
    const saved: WorkingMemory = {
      scope: stored,
      version: found + 1,
      value: structuredClone(value),
      writtenBy: options.writtenBy ?? stored.user,
      runId: options.runId ?? null,
      updatedAt: new Date().toISOString(),
    };
    this.#working.push(saved);
    return structuredClone(saved);
  }

  async close(): Promise<void> {}
}
