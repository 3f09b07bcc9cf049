import type { Command } from './args.ts';

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
  async run(values) {
    const { writeVisualizations, staleMessage } = await import('../visualize/writeVisualizations.ts');
    const result = await writeVisualizations({
      machinesDir: (values.machines as string | undefined) ?? 'machines',
      outDir: (values.out as string | undefined) ?? 'visualizations',
      check: values.check === true,
    });
    if (values.check === true) {
      if (result.stale.length === 0) {
        process.stdout.write(`${result.diagrams.length} diagram(s) up to date.\n`);
        return 0;
      }
      process.stderr.write(`${staleMessage(result.stale)}\n`);
      return 1;
    }
    for (const file of result.written) process.stdout.write(`wrote ${file}\n`);
    for (const file of result.removed) process.stdout.write(`removed ${file}\n`);
    if (!result.written.length && !result.removed.length) process.stdout.write('Diagrams already up to date.\n');
    return 0;
  },
};
