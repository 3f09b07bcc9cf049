import type { AnyStateMachine } from 'xstate';
import { MACHINE_FORMAT, type MachineEntry, type MachineRef } from '../log/format/machineEntry.ts';
import { machineGraph } from '../visualize/machineGraph.ts';
import type { Agent } from './defineAgent.ts';
import { machineHash } from './machineHash.ts';

const entries = new WeakMap<AnyStateMachine, MachineEntry>();

/** A machine's graph as stores keep it: plain JSON, under the machine's id and the hash of its definition. */
export function machineEntry(machine: AnyStateMachine): MachineEntry {
  let entry = entries.get(machine);
  if (!entry) {
    // Through JSON: state meta may hold values JSON leaves out.
    const graph = JSON.parse(JSON.stringify(machineGraph(machine))) as MachineEntry['graph'];
    entry = { format: MACHINE_FORMAT, id: machine.id, hash: machineHash(machine), graph };
    entries.set(machine, entry);
  }
  return entry;
}

/** Agents an agent invokes, at any depth, by the path of their actor names (`writer`, `writer/checker`). */
function* invokedAgents(agent: Agent, prefix = '', seen: readonly Agent[] = [agent]): Generator<[string, Agent]> {
  for (const [name, sub] of Object.entries(agent.agents)) {
    const path = prefix ? `${prefix}/${name}` : name;
    yield [path, sub];
    // An agent that invokes itself, directly or not, is listed once at each name.
    if (!seen.includes(sub)) yield* invokedAgents(sub, path, [...seen, sub]);
  }
}

/** The machines of the agents a run's agent invokes, for the header's `invoked`; undefined when it invokes none. */
export function invokedMachines(agent: Agent): Record<string, MachineRef> | undefined {
  const found: Record<string, MachineRef> = {};
  for (const [path, sub] of invokedAgents(agent)) found[path] = { id: sub.machine.id, hash: machineHash(sub.machine) };
  return Object.keys(found).length > 0 ? found : undefined;
}

/** The graphs of a run's machine and of every machine its invoked agents run, each version once. */
export function runMachineEntries(agent: Agent): MachineEntry[] {
  const byKey = new Map<string, MachineEntry>();
  for (const machine of [agent.machine, ...[...invokedAgents(agent)].map(([, sub]) => sub.machine)]) {
    const entry = machineEntry(machine);
    byKey.set(`${entry.id} ${entry.hash}`, entry);
  }
  return [...byKey.values()];
}
