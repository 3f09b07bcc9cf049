import type { CommandValues } from './args.ts';
import { shellQuote } from './suggestedCommands.ts';

export async function visualize(values: CommandValues): Promise<number> {
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
    // The fix names the folders this check was given, so that it runs as printed.
    const folders = ['machines', 'out'].flatMap((name) => (typeof values[name] === 'string' ? [`--${name}`, shellQuote(values[name] as string)] : []));
    process.stderr.write(`${staleMessage(result.stale, ['npx statecraft visualize', ...folders].join(' '))}\n`);
    return 1;
  }
  for (const file of result.written) process.stdout.write(`wrote ${file}\n`);
  for (const file of result.removed) process.stdout.write(`removed ${file}\n`);
  if (!result.written.length && !result.removed.length) process.stdout.write('Diagrams already up to date.\n');
  return 0;
}
