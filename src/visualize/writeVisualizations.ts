import { loadTypeScriptSupport } from '../loadTypeScript.ts';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { StateMachine } from 'xstate';
import type { AnyStateMachine } from 'xstate';
import { UserError } from '../errors.ts';
import { machineGraph } from './machineGraph.ts';
import { toDot } from './toDot.ts';
import { toMermaid } from './toMermaid.ts';
import { toSvg } from './toSvg.ts';

/** Where machines are read from and diagrams written to (both relative to the working directory), and whether to only check. */
export interface WriteVisualizationsOptions {
  machinesDir?: string;
  outDir?: string;
  check?: boolean;
}

/** A generated file that does not match what the machines produce now. */
export interface StaleFile {
  file: string;
  reason: 'missing' | 'changed' | 'orphaned';
}

/** One machine found in the machines directory and the base name of its diagram files. */
export interface DiagramEntry {
  name: string;
  machineId: string;
  sourceFile: string;
  exportName: string;
  states: number;
  transitions: number;
}

/** What a run found: the diagrams, every expected file, and (check) the stale ones or (write) those written and removed. */
export interface VisualizationReport {
  diagrams: DiagramEntry[];
  files: string[];
  stale: StaleFile[];
  written: string[];
  removed: string[];
}

const generatedExtensions = ['.svg', '.dot', '.mmd'];

/** Whether a value is an XState v5 machine (by class, or by shape when another copy of xstate created it). */
export function isStateMachine(value: unknown): value is AnyStateMachine {
  if (value instanceof StateMachine) return true;
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as { root?: { transitions?: unknown }; config?: unknown; getInitialSnapshot?: unknown };
  return (
    typeof candidate.config === 'object' &&
    typeof candidate.getInitialSnapshot === 'function' &&
    candidate.root?.transitions instanceof Map
  );
}

async function machinesIn(machinesDir: string): Promise<Array<{ entry: Omit<DiagramEntry, 'states' | 'transitions'>; machine: AnyStateMachine }>> {
  if (!existsSync(machinesDir)) {
    throw new UserError(
      `Expected a machines directory at ${machinesDir}; found nothing there. Create it or pass machinesDir to writeVisualizations.`,
    );
  }
  const dirLabel = basename(machinesDir);
  const files = (await readdir(machinesDir)).filter((file) => /Machine\.ts$/.test(file)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const found: Array<{ entry: Omit<DiagramEntry, 'states' | 'transitions'>; machine: AnyStateMachine }> = [];
  for (const file of files) {
    const fileBase = file.slice(0, -'.ts'.length);
    const sourceFile = `${dirLabel}/${file}`;
    let module: Record<string, unknown>;
    try {
      await loadTypeScriptSupport(join(machinesDir, file));
      module = (await import(pathToFileURL(join(machinesDir, file)).href)) as Record<string, unknown>;
    } catch (error) {
      throw new UserError(
        `Expected ${sourceFile} to load on its own; importing it failed: ${error instanceof Error ? error.message : String(error)}. Fix the file, then run \`npx statecraft visualize\` again.`,
        { cause: error },
      );
    }
    const names = Object.keys(module).filter((name) => isStateMachine(module[name]));
    const preferred = (name: string) => (name === fileBase ? 0 : name === 'default' ? 1 : 2);
    names.sort((a, b) => preferred(a) - preferred(b) || (a < b ? -1 : 1));
    if (names.length === 0) {
      throw new UserError(
        `Expected ${sourceFile} to export an XState machine (setup({...}).createMachine({...})); found exports: ${Object.keys(module).join(', ') || 'none'}. Export the machine, or rename the file if it holds none.`,
      );
    }
    const seen = new Set<unknown>();
    const taken = new Set<string>();
    for (const exportName of names) {
      const machine = module[exportName] as AnyStateMachine;
      if (seen.has(machine)) continue;
      seen.add(machine);
      let name = exportName === fileBase || exportName === 'default' ? fileBase : `${fileBase}.${exportName}`;
      if (taken.has(name)) name = `${fileBase}.${exportName}`;
      taken.add(name);
      found.push({ entry: { name, machineId: machine.id, sourceFile, exportName }, machine });
    }
  }
  return found;
}

function indexMarkdown(diagrams: DiagramEntry[], machinesLabel: string): string {
  const lines = [
    '# Statecharts',
    '',
    `Generated from the machine definitions in \`${machinesLabel}/\` by \`npx statecraft visualize\`. Do not edit by hand: a test fails when these files are stale.`,
    '',
  ];
  if (diagrams.length === 0) lines.push(`No machines were found in \`${machinesLabel}/\`.`, '');
  for (const diagram of diagrams) {
    lines.push(
      `## ${diagram.name}`,
      '',
      `Machine \`${diagram.machineId}\`, export \`${diagram.exportName}\` of \`${diagram.sourceFile}\`: ${diagram.states} states, ${diagram.transitions} transitions.`,
      '',
      `[![${diagram.name}](${diagram.name}.svg)](${diagram.name}.svg)`,
      '',
      `Sources: [DOT](${diagram.name}.dot), [Mermaid](${diagram.name}.mmd)`,
      '',
    );
  }
  return lines.join('\n');
}

/**
 * Draws every machine exported by `<machinesDir>/*Machine.ts` as SVG, DOT and Mermaid files plus an
 * `index.md` in `outDir`; with `check: true` it writes nothing and reports the files that are stale.
 * @example
 * const { stale } = await writeVisualizations({ check: true });
 * if (stale.length > 0) console.error(staleMessage(stale));
 */
export async function writeVisualizations(options: WriteVisualizationsOptions = {}): Promise<VisualizationReport> {
  const machinesDir = resolve(options.machinesDir ?? 'machines');
  const outDir = resolve(options.outDir ?? 'visualizations');
  const check = options.check ?? false;

  const expected = new Map<string, string>();
  const diagrams: DiagramEntry[] = [];
  for (const { entry, machine } of await machinesIn(machinesDir)) {
    const graph = machineGraph(machine);
    const dot = toDot(graph);
    expected.set(`${entry.name}.dot`, dot);
    expected.set(`${entry.name}.mmd`, toMermaid(graph));
    expected.set(`${entry.name}.svg`, await toSvg(dot));
    diagrams.push({ ...entry, states: graph.nodes.length - 1, transitions: graph.edges.length });
  }
  expected.set('index.md', indexMarkdown(diagrams, basename(machinesDir)));

  const stale: StaleFile[] = [];
  for (const [file, content] of expected) {
    const path = join(outDir, file);
    if (!existsSync(path)) stale.push({ file: path, reason: 'missing' });
    else if ((await readFile(path, 'utf8')) !== content) stale.push({ file: path, reason: 'changed' });
  }
  const present = existsSync(outDir) ? (await readdir(outDir)).sort() : [];
  for (const file of present) {
    if (!expected.has(file) && generatedExtensions.some((extension) => file.endsWith(extension))) {
      stale.push({ file: join(outDir, file), reason: 'orphaned' });
    }
  }

  const written: string[] = [];
  const removed: string[] = [];
  if (!check) {
    await mkdir(outDir, { recursive: true });
    for (const { file, reason } of stale) {
      if (reason === 'orphaned') {
        await rm(file);
        removed.push(file);
      } else {
        await writeFile(file, expected.get(basename(file))!, 'utf8');
        written.push(file);
      }
    }
  }
  return { diagrams, files: [...expected.keys()].map((file) => join(outDir, file)), stale: check ? stale : [], written, removed };
}

/** The message a check prints when diagrams are stale: which files, why, and the command that fixes it (`fix`). */
export function staleMessage(stale: readonly StaleFile[], fix = 'npx statecraft visualize'): string {
  const lines = stale.map(({ file, reason }) => `  ${relative(process.cwd(), file) || file} (${reason})`);
  return `Expected the diagrams to match the machine definitions; ${stale.length} file(s) are out of date:\n${lines.join('\n')}\nRun \`${fix}\` to regenerate them, then commit the result.`;
}
