import { ConflictError, UserError } from '../errors.ts';

/**
 * Whose memory: notes and working memory are kept and recalled within one scope. A field left out is
 * a scope of its own (notes saved without a thread are not those of any thread), never a wildcard.
 */
export interface MemoryScope {
  tenant?: string;
  user?: string;
  agent?: string;
  thread?: string;
}

/** A scope with every field present ('' for none), as the stores keep it. */
export type StoredScope = Required<MemoryScope>;

/** A note as it is saved: its text, tags, who wrote it, and its vector when embeddings are configured. */
export interface NewNote {
  scope: MemoryScope;
  text: string;
  tags?: readonly string[];
  /** The user of the run that wrote it, when it is kept in a scope without a user: deleting that user deletes it too. */
  writtenBy?: string;
  runId?: string;
  embedding?: readonly number[];
}

/** A saved note. */
export interface Note {
  id: string;
  scope: StoredScope;
  text: string;
  tags: string[];
  writtenBy: string;
  runId: string | null;
  createdAt: string;
}

/** A note found by `recall`, with its relevance (full-text rank, or cosine similarity for semantic recall). */
export interface RecalledNote extends Note {
  score: number;
}

export interface RecallQuery {
  /** Words to look for (full-text search); ignored when `embedding` is given. */
  text: string;
  /** The query's vector: notes are ranked by cosine similarity to it instead. */
  embedding?: readonly number[];
  limit: number;
  /** Semantic recall only: notes less similar than this (cosine, -1 to 1) are left out. */
  minScore?: number;
}

/** One version of a scope's working memory. */
export interface WorkingMemory {
  scope: StoredScope;
  version: number;
  value: Record<string, unknown>;
  writtenBy: string;
  runId: string | null;
  updatedAt: string;
}

/**
 * Where an agent's notes and working memory live: in memory, in SQLite (FTS5) or in PostgreSQL
 * (tsvector), each in the same database as the run store. One conformance suite covers all three.
 */
export interface AgentMemoryStore {
  /** Saves a note and returns it with its id. */
  remember(note: NewNote): Promise<Note>;
  /** The notes of a scope most relevant to the query, best first, at most `limit`. */
  recall(scope: MemoryScope, query: RecallQuery): Promise<RecalledNote[]>;
  /** The notes of a scope, newest first. */
  notes(scope: MemoryScope, options?: { limit?: number }): Promise<Note[]>;
  /**
   * Deletes a note (its row, its full-text entry and its vector); with `within`, only when the note
   * is in that tenant (and user, when given). Returns whether a note was deleted.
   */
  forget(id: string, within?: Pick<MemoryScope, 'tenant' | 'user'>): Promise<boolean>;
  /** Deletes every note and working-memory version of a user (kept in their scope or written in their runs); returns how many rows went. */
  forgetUser(user: string, options?: { tenant?: string }): Promise<number>;
  /** The latest working memory of a scope. */
  working(scope: MemoryScope): Promise<WorkingMemory | undefined>;
  /**
   * Saves a new version of a scope's working memory. `expectedVersion` is the version the change was
   * made from (0 for none): another writer's version in between is refused with a ConflictError.
   */
  saveWorking(scope: MemoryScope, value: Record<string, unknown>, options: { expectedVersion: number; writtenBy?: string; runId?: string }): Promise<WorkingMemory>;
  close(): Promise<void>;
}

/** A scope with every field present, checked: ids are short strings. */
export function storedScope(scope: MemoryScope): StoredScope {
  const out = { tenant: scope.tenant ?? '', user: scope.user ?? '', agent: scope.agent ?? '', thread: scope.thread ?? '' };
  for (const [key, value] of Object.entries(out)) {
    if (typeof value !== 'string' || value.length > 200) {
      throw new UserError(`Memory scope field "${key}" must be a string of at most 200 characters, found ${typeof value === 'string' ? `${value.length} characters` : typeof value}.`);
    }
  }
  return out;
}

/** The words of a text, lower-cased, as full-text queries use them. */
export function wordsOf(text: string): string[] {
  return [...new Set(text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [])].slice(0, 64);
}

/** Cosine similarity of two vectors of the same length (0 when either is all zeros). */
export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}

/** The `limit` best of scored items whose score reaches `minScore`, best first. */
export function topScored<T extends { score: number }>(items: T[], limit: number, minScore = -Infinity): T[] {
  return items.filter((item) => item.score >= minScore).sort((a, b) => b.score - a.score).slice(0, limit);
}

/** Checks a recall's limit: a positive whole number. */
export function checkLimit(limit: number): number {
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new UserError(`Recall limit must be a whole number from 1 to 1000, found ${String(limit)}.`);
  return limit;
}

/** The error for a working-memory version another writer saved first. */
export function workingConflict(scope: StoredScope, expected: number, found: number): ConflictError {
  return new ConflictError(
    `Working memory of ${JSON.stringify(scope)} is at version ${found}, not ${expected} as this change expected: another run changed it. Read it again and apply the change to the new version.`,
  );
}
