import type { AnyActor } from 'xstate';

/**
 * The run's persisted snapshot as the log records it: XState's persisted form of everything but the
 * context, which is taken as it is. XState walks the whole context on every transition to swap actor
 * references for `{ xstate$$type, id }` (a cost that grows with the history); an actor reference's
 * own JSON form is exactly that, and the recorder stores JSON, so the walk is not needed.
 */
export function persistedSnapshot(actor: AnyActor): Record<string, unknown> {
  const snapshot = actor.getSnapshot() as { context?: unknown };
  const persisted = actor.logic.getPersistedSnapshot!({ ...snapshot, context: undefined } as never) as Record<string, unknown>;
  persisted.context = snapshot.context;
  // A machine stopped by an error keeps the Error itself, whose JSON form is {}: the log keeps what it says.
  const { error } = persisted;
  if (error instanceof Error) persisted.error = { name: error.name, message: error.message };
  return persisted;
}
