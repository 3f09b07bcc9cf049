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
  return persisted;
}

/**
 * A persisted snapshot's agent and the agents it invokes, each with the invoke-id path to it (absent
 * for the root): the persisted children that are active and hold a context.
 */
export function persistedAgents(snapshot: object, path?: string): Array<{ snapshot: Record<string, unknown>; path?: string }> {
  const own = snapshot as Record<string, unknown>;
  const found: Array<{ snapshot: Record<string, unknown>; path?: string }> = [path === undefined ? { snapshot: own } : { snapshot: own, path }];
  const children = typeof own.children === 'object' && own.children !== null ? (own.children as Record<string, unknown>) : {};
  for (const [id, child] of Object.entries(children)) {
    const inner = (child as { snapshot?: unknown } | null)?.snapshot as Record<string, unknown> | undefined;
    if (typeof inner !== 'object' || inner === null || inner.status !== 'active' || typeof inner.context !== 'object' || inner.context === null) continue;
    found.push(...persistedAgents(inner, path === undefined ? id : `${path}/${id}`));
  }
  return found;
}
