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
