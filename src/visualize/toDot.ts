import { edgeLabel, stateLines } from './machineGraph.ts';
import type { GraphEdge, GraphNode, MachineGraph } from './machineGraph.ts';

const quote = (text: string) => `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\r?\n/g, '\\n')}"`;

const attrs = (pairs: Record<string, string | number>) =>
  Object.entries(pairs)
    .map(([key, value]) => `${key}=${typeof value === 'number' ? value : quote(value)}`)
    .join(', ');

const isCluster = (node: GraphNode) => node.kind === 'compound' || node.kind === 'parallel';

interface Endpoint {
  dotId: string;
  cluster: string | null;
}

/**
 * Renders a machine graph as Graphviz DOT: compound and parallel states are clusters (parallel regions dashed),
 * initial states get a filled dot, final states a double border, edges read `EVENT [guard]`.
 * @example
 * const dot = toDot(machineGraph(agentMachine));
 */
export function toDot(graph: MachineGraph): string {
  const byId = new Map(graph.nodes.map((node) => [node.id, node]));
  const clusterName = new Map(graph.nodes.filter(isCluster).map((node, index) => [node.id, `cluster_${index}`]));
  const anchors = new Set<string>();
  const anyNodes = new Set<string>();

  const isWithin = (id: string, ancestor: string) => {
    for (let current = byId.get(id); current; current = current.parent ? byId.get(current.parent) : undefined) {
      if (current.id === ancestor) return true;
    }
    return false;
  };

  const sourceEndpoint = (edge: GraphEdge): Endpoint => {
    const node = byId.get(edge.source)!;
    if (!isCluster(node)) return { dotId: node.id, cluster: null };
    if (isWithin(edge.target, node.id)) {
      anyNodes.add(node.id);
      return { dotId: `${node.id}#any`, cluster: null };
    }
    anchors.add(node.id);
    return { dotId: `${node.id}#anchor`, cluster: clusterName.get(node.id)! };
  };

  const targetEndpoint = (targetId: string, sourceId: string): Endpoint => {
    const node = byId.get(targetId)!;
    if (!isCluster(node)) return { dotId: node.id, cluster: null };
    const inside = isWithin(sourceId, node.id);
    if (node.kind === 'compound' && node.initial.length > 0) {
      return { dotId: `${node.id}#initial`, cluster: inside ? null : clusterName.get(node.id)! };
    }
    anchors.add(node.id);
    return { dotId: `${node.id}#anchor`, cluster: inside ? null : clusterName.get(node.id)! };
  };

  const edgeLines: string[] = [];
  const merged = new Map<string, { from: string; to: string; labels: string[]; pairs: Record<string, string> }>();
  for (const node of graph.nodes) {
    if (node.kind !== 'compound') continue;
    for (const target of node.initial) {
      const to = targetEndpoint(target, node.id);
      const pairs: Record<string, string | number> = { label: '' };
      if (to.cluster) pairs.lhead = to.cluster;
      edgeLines.push(`  ${quote(`${node.id}#initial`)} -> ${quote(to.dotId)} [${attrs(pairs)}];`);
    }
  }
  for (const edge of graph.edges) {
    const from = sourceEndpoint(edge);
    const to = edge.targetless ? from : targetEndpoint(edge.target, edge.source);
    const pairs: Record<string, string> = {};
    if (from.cluster && !edge.targetless) pairs.ltail = from.cluster;
    if (to.cluster && !edge.targetless) pairs.lhead = to.cluster;
    const key = JSON.stringify([from.dotId, to.dotId, pairs]);
    const existing = merged.get(key);
    if (existing) existing.labels.push(edgeLabel(edge));
    else merged.set(key, { from: from.dotId, to: to.dotId, labels: [edgeLabel(edge)], pairs });
  }
  for (const { from, to, labels, pairs } of merged.values()) {
    edgeLines.push(`  ${quote(from)} -> ${quote(to)} [${attrs({ label: labels.join('\n'), ...pairs })}];`);
  }

  const lines = [
    `digraph ${quote(graph.id)} {`,
    `  graph [${attrs({ compound: 'true', rankdir: 'TB', fontname: 'Helvetica', fontsize: 11, nodesep: 0.35, ranksep: 0.45 })}];`,
    `  node [${attrs({ fontname: 'Helvetica', fontsize: 11, shape: 'box', style: 'rounded' })}];`,
    `  edge [${attrs({ fontname: 'Helvetica', fontsize: 9 })}];`,
  ];

  const emit = (node: GraphNode, indent: string) => {
    const parent = node.parent ? byId.get(node.parent) : undefined;
    const region = parent?.kind === 'parallel';
    const label = stateLines(node).join('\n');
    if (!isCluster(node)) {
      const pairs: Record<string, string | number> = { id: `state:${node.id}`, label };
      if (node.kind === 'final') pairs.peripheries = 2;
      if (node.kind === 'history') {
        Object.assign(pairs, { shape: 'circle', style: 'solid', label: node.history === 'deep' ? 'H*' : 'H', tooltip: label });
      }
      if (region) pairs.style = 'rounded,dashed';
      lines.push(`${indent}${quote(node.id)} [${attrs(pairs)}];`);
      return;
    }
    lines.push(`${indent}subgraph ${clusterName.get(node.id)} {`);
    const inner = `${indent}  `;
    lines.push(`${inner}graph [${attrs({ id: `state:${node.id}`, label, labeljust: 'l', style: region ? 'rounded,dashed' : 'rounded' })}];`);
    if (node.kind === 'compound' && node.initial.length > 0) {
      lines.push(`${inner}${quote(`${node.id}#initial`)} [${attrs({ shape: 'point', width: 0.12, label: '' })}];`);
    }
    if (anchors.has(node.id)) {
      lines.push(`${inner}${quote(`${node.id}#anchor`)} [${attrs({ shape: 'point', style: 'invis', width: 0.01, label: '' })}];`);
    }
    if (anyNodes.has(node.id)) {
      lines.push(`${inner}${quote(`${node.id}#any`)} [${attrs({ shape: 'plaintext', fontsize: 9, label: `any state of ${node.label}` })}];`);
    }
    for (const child of node.children) emit(byId.get(child)!, inner);
    lines.push(`${indent}}`);
  };
  emit(byId.get(graph.root)!, '  ');

  lines.push(...edgeLines, '}', '');
  return lines.join('\n');
}
