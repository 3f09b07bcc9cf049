import { UserError } from '../../errors.ts';
import { CorruptRecordError } from '../format/storageErrors.ts';
import { parseMachineEntry, type MachineEntry } from '../format/machineEntry.ts';

/** The text a store keeps for a machine graph, checked before it is written. */
export function machineText(entry: MachineEntry): string {
  try {
    return JSON.stringify(parseMachineEntry(entry, 'a graph about to be saved'));
  } catch (error) {
    throw new UserError(`saveMachines got a graph that does not match the machine graph format: ${(error as Error).message} Build it with machineEntry() from the machine.`, { cause: error });
  }
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
