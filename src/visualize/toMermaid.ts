import { edgeLabel, stateLines } from './machineGraph.ts';
import type { GraphNode, MachineGraph } from './machineGraph.ts';

const text = (value: string) => value.replace(/["#;\r\n{}]/g, (char) => (char === '"' ? "'" : ' ')).trim();

/**
 * Renders a machine graph as a Mermaid `stateDiagram-v2`: nested states as composite states, parallel regions
 * separated by `--`, transitions labelled `EVENT [guard]` (eventless ones `always [guard]`).
 * @example
 * const mermaid = toMermaid(machineGraph(agentMachine));
 */
export function toMermaid(graph: MachineGraph): string {
  const byId = new Map(graph.nodes.map((node) => [node.id, node]));
  const mermaidId = new Map<string, string>();
  const used = new Set<string>();
  for (const node of graph.nodes) {
    const base = `s_${(node.path.length > 0 ? node.path.join('_') : 'root').replace(/[^A-Za-z0-9_]/g, '_')}`;
    let id = base;
    for (let n = 2; used.has(id); n++) id = `${base}_${n}`;
    used.add(id);
    mermaidId.set(node.id, id);
  }
  const idOf = (nodeId: string) => mermaidId.get(nodeId)!;
  const anyId = (nodeId: string) => `${idOf(nodeId)}__any`;
  const isComposite = (node: GraphNode) => node.kind === 'compound' || node.kind === 'parallel';
  const isWithin = (id: string, ancestor: string) => {
    for (let current = byId.get(id); current; current = current.parent ? byId.get(current.parent) : undefined) {
      if (current.id === ancestor) return true;
    }
    return false;
  };

  const needsAny = new Set<string>();
  const edgeLines: string[] = [];
  for (const edge of graph.edges) {
    const source = byId.get(edge.source)!;
    const fromAny = isComposite(source) && (edge.targetless || isWithin(edge.target, source.id));
    if (fromAny) needsAny.add(source.id);
    const from = fromAny ? anyId(source.id) : idOf(source.id);
    const to = edge.targetless ? from : idOf(edge.target);
    edgeLines.push(`  ${from} --> ${to} : ${text(edgeLabel(edge))}`);
  }

  const lines = ['---', `title: ${text(graph.id)}`, '---', 'stateDiagram-v2'];
  const emitChildren = (node: GraphNode, indent: string) => {
    if (needsAny.has(node.id)) lines.push(`${indent}state "any state of ${text(node.label)}" as ${anyId(node.id)}`);
    if (node.kind === 'compound') {
      for (const target of node.initial) lines.push(`${indent}[*] --> ${idOf(target)}`);
    }
    node.children.forEach((childId, index) => {
      if (node.kind === 'parallel' && index > 0) lines.push(`${indent}--`);
      emit(byId.get(childId)!, indent);
    });
  };
  const emit = (node: GraphNode, indent: string) => {
    const [name = node.key, ...details] = stateLines(node);
    if (isComposite(node)) {
      const label = [name, ...details].map(text).join(' - ');
      lines.push(`${indent}state "${label}" as ${idOf(node.id)} {`);
      emitChildren(node, `${indent}  `);
      lines.push(`${indent}}`);
      return;
    }
    const label = node.kind === 'history' ? (node.history === 'deep' ? 'H*' : 'H') : text(name);
    lines.push(`${indent}state "${label}" as ${idOf(node.id)}`);
    for (const detail of details) lines.push(`${indent}${idOf(node.id)} : ${text(detail)}`);
    if (node.kind === 'final') lines.push(`${indent}${idOf(node.id)} --> [*]`);
  };
  emitChildren(byId.get(graph.root)!, '  ');
  lines.push(...edgeLines, '');
  return lines.join('\n');
}
