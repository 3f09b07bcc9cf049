import { UserError } from '../errors.ts';
import { openStore } from '../log/stores/openStore.ts';
import type { RunStore } from '../log/stores/runStore.ts';
import { CorruptRecordError, RunNotFoundError } from '../log/format/storageErrors.ts';

/**
 * Open the store named by --store or STATECRAFT_STORE, and close it after `use`. Only commands that
 * record new runs (`create`) make a SQLite file that is not there: the others say it is missing.
 */
export async function withStore<T>(values: Record<string, unknown>, use: (store: RunStore) => Promise<T>, options: { create?: boolean } = {}): Promise<T> {
  const store = openStore(values.store as string | undefined, { mustExist: options.create !== true });
  try {
    return await use(store);
  } finally {
    await store.close();
  }
}

/** The --store the user gave, to name in the commands a hint suggests. */
export const storeOf = (values: Record<string, unknown>): { store?: string } => (typeof values.store === 'string' ? { store: values.store } : {});

/** A run id shorter than this is never taken as the start of one: it would match too much by chance. */
const MIN_PREFIX = 4;

/**
 * The run a command names: its whole id, or (as git takes commits) the start of the id of exactly
 * one run in the store. Several runs starting so are refused, listed; none is RunNotFoundError; a start
 * shorter than MIN_PREFIX is refused, saying so.
 */
export async function resolveRunId(store: RunStore, given: string): Promise<string> {
  try {
    await store.summary(given);
    return given;
  } catch (error) {
    // A run whose summary cannot be read is there: the command decides what it can do with it (repair rebuilds it).
    if (error instanceof CorruptRecordError && error.runId === given) return given;
    if (!(error instanceof RunNotFoundError)) throw error;
    if (given.length < MIN_PREFIX) {
      throw new UserError(
        `Run "${given}" was not found, and the start of a run id is looked up only from ${MIN_PREFIX} characters: give at least ${MIN_PREFIX} characters of the id (list runs with \`npx statecraft runs\`).`,
      );
    }
    const matches = (await store.listRuns()).map((run) => run.runId).filter((id) => id.startsWith(given));
    if (matches.length === 1) return matches[0]!;
    if (matches.length === 0) throw error;
    throw new UserError(
      `"${given}" is the start of ${matches.length} run ids (${matches.slice(0, 5).join(', ')}${matches.length > 5 ? ', ...' : ''}): give more of the id.`,
    );
  }
}

/** `withStore`, with the run the command names found in it (`resolveRunId`). */
export function withRun<T>(values: Record<string, unknown>, given: string, use: (store: RunStore, runId: string) => Promise<T>): Promise<T> {
  return withStore(values, async (store) => use(store, await resolveRunId(store, given)));
}
