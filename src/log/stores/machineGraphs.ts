import { UserError } from '../../errors.ts';
import { CorruptRecordError } from '../format/storageErrors.ts';
import { MachineEntrySchema, parseMachineEntry, type MachineEntry } from '../format/machineEntry.ts';

/** The text a store keeps for a machine graph, checked before it is written. */
export function machineText(entry: MachineEntry): string {
  const parsed = MachineEntrySchema.safeParse(entry);
  if (parsed.success && parsed.data.graph.id === parsed.data.id) return JSON.stringify(parsed.data);
  const issue = parsed.success ? undefined : parsed.error.issues[0];
  const found = issue ? `at ${issue.path.join('.') || '(root)'}: ${issue.message}` : `the graph of machine "${parsed.data!.graph.id}"`;
  throw new UserError(`saveMachines expected graphs in the machine graph format, found for machine "${String(entry?.id)}" ${found}: build each entry with machineEntry(machine).`);
}

/** A stored machine graph's text, parsed and checked; `where` names the store for messages. */
export function machineFromText(text: string, id: string, hash: string, where: string): MachineEntry {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  const entry = parseMachineEntry(json, where);
  if (entry.id !== id || entry.hash !== hash) {
    throw new CorruptRecordError(`The graph kept in ${where} for machine "${id}" version ${hash} is that of machine "${entry.id}" version ${entry.hash}: it was altered; record it again by starting a run of the agent.`);
  }
  return entry;
}

/** Machine versions each store was asked to keep by this process: a run start saves a graph once. */
const kept = new WeakMap<object, Set<string>>();

/** Saves the graphs `store` was not given yet by this process (none when it keeps no graphs). */
export async function keepMachines(store: { saveMachines?(entries: MachineEntry[]): Promise<void> }, entries: readonly MachineEntry[]): Promise<void> {
  if (!store.saveMachines || entries.length === 0) return;
  let keys = kept.get(store);
  if (!keys) kept.set(store, (keys = new Set()));
  const fresh = entries.filter((entry) => !keys.has(`${entry.id} ${entry.hash}`));
  if (fresh.length === 0) return;
  await store.saveMachines(fresh);
  for (const entry of fresh) keys.add(`${entry.id} ${entry.hash}`);
}
