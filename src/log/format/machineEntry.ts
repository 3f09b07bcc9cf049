import { z } from 'zod';
import { CorruptRecordError, UnsupportedFormatError } from './storageErrors.ts';

/** The format version (`format`) of a stored machine graph this build writes and reads. */
export const MACHINE_FORMAT = 1;

/** A machine as the header names it: its id and the hash of its definition (see src/runtime/machineHash.ts). */
export const MachineRefSchema = z.object({ id: z.string(), hash: z.string() });
export type MachineRef = z.infer<typeof MachineRefSchema>;

const GraphNodeSchema = z.object({
  id: z.string(),
  key: z.string(),
  path: z.array(z.string()),
  label: z.string(),
  kind: z.enum(['atomic', 'compound', 'parallel', 'final', 'history']),
  parent: z.string().nullable(),
  children: z.array(z.string()),
  initial: z.array(z.string()),
  history: z.enum(['shallow', 'deep']).nullable(),
  tags: z.array(z.string()),
  invokes: z.array(z.object({ id: z.string(), src: z.string(), inline: z.boolean() })),
  entry: z.array(z.string()),
  exit: z.array(z.string()),
  description: z.string().nullable(),
  meta: z.unknown().optional(),
});

const GraphEdgeSchema = z.object({
  source: z.string(),
  target: z.string(),
  eventType: z.string(),
  event: z.string(),
  guard: z.string().nullable(),
  actions: z.array(z.string()),
  targetless: z.boolean(),
  reenter: z.boolean(),
});

/** The JSON form of `MachineGraph` (src/visualize/machineGraph.ts), as stores keep it. */
export const StoredGraphSchema = z.object({
  id: z.string(),
  root: z.string(),
  nodes: z.array(GraphNodeSchema).min(1),
  edges: z.array(GraphEdgeSchema),
});

/**
 * A machine's graph, kept once per machine version (id and hash) beside the runs, so that any process
 * can draw a run's statechart without loading the agent's code.
 */
export const MachineEntrySchema = z.object({
  format: z.literal(MACHINE_FORMAT),
  id: z.string().min(1),
  hash: z.string().min(1),
  graph: StoredGraphSchema,
});
export type MachineEntry = z.infer<typeof MachineEntrySchema>;

/** Validates a stored machine graph (format version and shape) and returns it typed; `where` names its source for messages. */
export function parseMachineEntry(json: unknown, where = 'a stored machine graph'): MachineEntry {
  const raw = (typeof json === 'object' && json !== null ? json : {}) as Record<string, unknown>;
  const name = typeof raw.id === 'string' ? `Machine "${raw.id}"${typeof raw.hash === 'string' ? ` (version ${raw.hash})` : ''} in ${where}` : `The machine graph in ${where}`;
  if (raw.format !== MACHINE_FORMAT) {
    const found = raw.format === undefined ? 'no format version' : `format version ${JSON.stringify(raw.format)}`;
    throw new UnsupportedFormatError(
      `${name} has ${found}, but this build of Statecraft reads machine graphs of format ${MACHINE_FORMAT} only: upgrade Statecraft to draw it.`,
      {},
      raw.format,
      MACHINE_FORMAT,
    );
  }
  const parsed = MachineEntrySchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new CorruptRecordError(
      `${name} does not match the machine graph format (at ${issue?.path.join('.') || '(root)'}: ${issue?.message}): it was altered or damaged; record it again by starting a run of the agent, or re-import the run's export.`,
    );
  }
  const { graph } = parsed.data;
  if (graph.id !== parsed.data.id) {
    throw new CorruptRecordError(`${name} holds the graph of machine "${graph.id}": it was altered; record it again by starting a run of the agent.`);
  }
  return parsed.data;
}
