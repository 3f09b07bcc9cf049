import type { Command } from '../args.ts';

export const visualizeCommand: Command = {
  name: 'visualize',
  summary: 'draw every machine in machines/ into visualizations/ (SVG, DOT, Mermaid)',
  usage: 'statecraft visualize [--machines DIR] [--out DIR] [--check]',
  help: `Writes an SVG, a DOT and a Mermaid file for every machine exported by machines/*Machine.ts.
No system package is needed: Graphviz runs as WebAssembly.

Options:
  --machines DIR   where the machine files are (default machines)
  --out DIR        where the diagrams go (default visualizations)
  --check          write nothing; exit 1 and list the diagrams that are missing or stale`,
  options: { machines: { type: 'string' }, out: { type: 'string' }, check: { type: 'boolean' } },
  load: async () => (await import('../visualizeCommand.ts')).visualize,
};
