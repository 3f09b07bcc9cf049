import type { AnyStateMachine, AnyStateNode, AnyTransitionDefinition } from 'xstate';

export type StateKind = 'atomic' | 'compound' | 'parallel' | 'final' | 'history';

/** An actor a state invokes: `src` is the registered actor name, or `inline` when the logic was passed directly. */
export interface GraphInvoke {
  id: string;
  src: string;
  inline: boolean;
}

/** One state node of a machine, flattened. */
export interface GraphNode {
  id: string;
  key: string;
  path: string[];
  label: string;
  kind: StateKind;
  parent: string | null;
  children: string[];
  initial: string[];
  history: 'shallow' | 'deep' | null;
  tags: string[];
  invokes: GraphInvoke[];
  entry: string[];
  exit: string[];
  description: string | null;
  meta: unknown;
}

/** One drawn transition: a transition with several targets gives one edge per target. */
export interface GraphEdge {
  source: string;
  target: string;
  eventType: string;
  event: string;
  guard: string | null;
  actions: string[];
  targetless: boolean;
  reenter: boolean;
}

/** A machine as plain data: nodes in document order (parents before children), edges in definition order. */
export interface MachineGraph {
  id: string;
  root: string;
  nodes: GraphNode[];
  edges: GraphEdge[];
}

const autoInvokeId = /^\d+\./;

const labelOfName = (name: string) => (name.startsWith('xstate.') ? name.slice('xstate.'.length) : name);

const propOf = (value: unknown, key: string): unknown =>
  (typeof value === 'object' || typeof value === 'function') && value !== null
    ? (value as Record<string, unknown>)[key]
    : undefined;

/** Names a guard: named guards by type, `and`/`or`/`not` with their operands, inline functions as `guard`. */
export function guardLabel(guard: unknown): string | null {
  if (guard === undefined || guard === null) return null;
  if (typeof guard === 'string') return guard;
  const type = propOf(guard, 'type');
  if (typeof type === 'string') return type;
  const operands = propOf(guard, 'guards');
  if (typeof guard === 'function' && Array.isArray(operands)) {
    return `${guard.name || 'guard'}(${operands.map((operand) => guardLabel(operand) ?? 'guard').join(', ')})`;
  }
  const stateValue = propOf(guard, 'stateValue');
  if (stateValue !== undefined) return `in(${typeof stateValue === 'string' ? stateValue : JSON.stringify(stateValue)})`;
  return 'guard';
}

const isDelayedEventAction = (action: unknown) => {
  const id = propOf(action, 'id') ?? propOf(action, 'sendId');
  return typeof id === 'string' && id.startsWith('xstate.after.');
};

/** Names an action: named actions by type, built-ins (`assign`, `raise`, ...) by kind, inline functions as `action`. */
export function actionLabel(action: unknown): string {
  if (typeof action === 'string') return action;
  const type = propOf(action, 'type');
  if (typeof type === 'string') return labelOfName(type);
  return 'action';
}

const actionLabels = (actions: readonly unknown[]) =>
  actions.filter((action) => !isDelayedEventAction(action)).map(actionLabel);

const invokesOf = (node: AnyStateNode): GraphInvoke[] =>
  node.invoke.map((definition) => {
    const src = typeof definition.src === 'string' ? definition.src : 'inline';
    const inline = src.startsWith('xstate.invoke.') || src === 'inline';
    return { id: definition.id, src: inline ? 'inline' : src, inline };
  });

const actorName = (node: AnyStateNode, invokeId: string) => {
  const invoke = invokesOf(node).find((candidate) => candidate.id === invokeId);
  if (!invoke) return invokeId;
  return autoInvokeId.test(invoke.id) && !invoke.inline ? invoke.src : invoke.id;
};

function eventLabel(node: AnyStateNode, eventType: string): string {
  if (eventType === '') return 'always';
  const after = `xstate.after.`;
  if (eventType.startsWith(after) && eventType.endsWith(`.${node.id}`)) {
    const delay = eventType.slice(after.length, eventType.length - node.id.length - 1);
    return /^\d+$/.test(delay) ? `after ${delay}ms` : `after ${delay}`;
  }
  if (eventType === `xstate.done.state.${node.id}`) return 'onDone';
  for (const [prefix, name] of [
    ['xstate.done.actor.', 'onDone'],
    ['xstate.error.actor.', 'onError'],
    ['xstate.snapshot.', 'onSnapshot'],
  ] as const) {
    if (eventType.startsWith(prefix)) return `${name}(${actorName(node, eventType.slice(prefix.length))})`;
  }
  return eventType;
}

function edgesOf(node: AnyStateNode, transition: AnyTransitionDefinition, eventType: string): GraphEdge[] {
  const base = {
    source: node.id,
    eventType,
    event: eventLabel(node, eventType),
    guard: guardLabel(transition.guard),
    actions: actionLabels(transition.actions),
    reenter: transition.reenter,
  };
  const targets = transition.target ?? [];
  if (targets.length === 0) return [{ ...base, target: node.id, targetless: true }];
  return targets.map((target) => ({ ...base, target: target.id, targetless: false }));
}

function toNode(node: AnyStateNode, machineId: string): GraphNode {
  const initial = node.initial as { target?: readonly AnyStateNode[] } | undefined;
  return {
    id: node.id,
    key: node.key,
    path: [...node.path],
    label: node.parent ? node.key : machineId,
    kind: node.type,
    parent: node.parent ? node.parent.id : null,
    children: Object.values(node.states).map((child) => child.id),
    initial: (initial?.target ?? []).map((target) => target.id),
    history: node.history === false ? null : node.history,
    tags: [...node.tags],
    invokes: invokesOf(node),
    entry: actionLabels(node.entry),
    exit: actionLabels(node.exit),
    description: node.description ?? null,
    meta: node.meta,
  };
}

/**
 * Walks an XState v5 machine into plain nodes and edges, eventless (`always`) transitions included.
 * @example
 * const graph = machineGraph(agentMachine);
 * graph.edges.filter((edge) => edge.event === 'always');
 */
export function machineGraph(machine: AnyStateMachine): MachineGraph {
  const nodes: GraphNode[] = [];
  const edges: GraphEdge[] = [];
  const visit = (node: AnyStateNode) => {
    nodes.push(toNode(node, machine.id));
    for (const [eventType, transitions] of node.transitions) {
      for (const transition of transitions) edges.push(...edgesOf(node, transition, eventType));
    }
    for (const transition of node.always ?? []) edges.push(...edgesOf(node, transition, ''));
    for (const child of Object.values(node.states)) visit(child);
  };
  visit(machine.root);
  return { id: machine.id, root: machine.root.id, nodes, edges };
}

/** The lines a diagram shows inside a state: its name, its invoked actors and its tags. */
export function stateLines(node: GraphNode): string[] {
  const lines = [node.label];
  for (const invoke of node.invokes) {
    if (invoke.inline) lines.push(`invoke (inline) ${invoke.id}`);
    else if (invoke.id === invoke.src || autoInvokeId.test(invoke.id)) lines.push(`invoke ${invoke.src}`);
    else lines.push(`invoke ${invoke.src} as ${invoke.id}`);
  }
  if (node.tags.length > 0) lines.push(`tags ${node.tags.join(', ')}`);
  return lines;
}

/** The text of an edge label: `EVENT [guard]`, `always [guard]`. */
export function edgeLabel(edge: GraphEdge): string {
  return edge.guard === null ? edge.event : `${edge.event} [${edge.guard}]`;
}
