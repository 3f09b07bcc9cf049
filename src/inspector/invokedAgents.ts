import type { Json } from '../log/format/record.ts';

type Obj = Record<string, Json>;
const asObject = (value: Json | undefined): Obj | undefined =>
  typeof value === 'object' && value !== null && !Array.isArray(value) ? value : undefined;

/** An agent a run's machine invokes, as one record's snapshot holds it. */
export interface InvokedAgent {
  /** Invoke ids from the root down (`writer`, `writer/checker`): what approvals and message requests name. */
  path: string;
  /** Actor names from the root down: what the run header's `invoked` and diagram requests name. */
  agent: string;
  status: Json;
  value: Json;
  messageCount: number;
}

/** The persisted children of a snapshot that hold a machine's state (a value and a context), with their actor name. */
function* childMachines(snapshot: Obj): Generator<{ id: string; src: string; snapshot: Obj }> {
  for (const [id, child] of Object.entries(asObject(snapshot.children) ?? {})) {
    const inner = asObject(asObject(child)?.snapshot);
    if (!inner || inner.value === undefined || !asObject(inner.context)) continue;
    const src = asObject(child)?.src;
    yield { id, src: typeof src === 'string' ? src : id, snapshot: inner };
  }
}

/** The agents a persisted snapshot invokes, at any depth, parents first. */
export function invokedAgents(doc: Json): InvokedAgent[] {
  const found: InvokedAgent[] = [];
  const visit = (snapshot: Obj, path: string, agent: string) => {
    for (const child of childMachines(snapshot)) {
      const childPath = path ? `${path}/${child.id}` : child.id;
      const childAgent = agent ? `${agent}/${child.src}` : child.src;
      const messages = asObject(child.snapshot.context)?.messages;
      found.push({ path: childPath, agent: childAgent, status: child.snapshot.status ?? null, value: child.snapshot.value ?? null, messageCount: Array.isArray(messages) ? messages.length : 0 });
      visit(child.snapshot, childPath, childAgent);
    }
  };
  const root = asObject(doc);
  if (root) visit(root, '', '');
  return found;
}

/** The snapshot of the agent at invoke-id path `path` ('' for the run's own), or undefined when it is not running then. */
export function agentSnapshot(doc: Json, path: string): Json | undefined {
  let snapshot = asObject(doc);
  for (const id of path ? path.split('/') : []) {
    snapshot = snapshot ? [...childMachines(snapshot)].find((child) => child.id === id)?.snapshot : undefined;
  }
  return snapshot;
}
