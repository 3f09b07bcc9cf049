import type { AnyStateMachine } from 'xstate';
import type { MachineRef } from '../log/format/machineEntry.ts';
import type { RunStore } from '../log/stores/runStore.ts';
import type { Agent } from '../runtime/defineAgent.ts';
import { machineHash } from '../runtime/machineHash.ts';
import { machineGraph, type MachineGraph } from '../visualize/machineGraph.ts';
import { toDot } from '../visualize/toDot.ts';
import { toSvg } from '../visualize/toSvg.ts';
import { HttpStatusError } from './sendJson.ts';

/** Where a run's diagram was drawn from: the graph recorded with the run, a machine given to the inspector, or the agent's code. */
export type DiagramSource = 'recorded' | 'configured' | 'agent';

export interface RunDiagram {
  svg: string;
  source: DiagramSource;
  machine: MachineRef;
}

export interface RunDiagramsOptions {
  store: RunStore;
  /** Machines given to the inspector, by id: drawn for runs that recorded no graph. */
  machines: Record<string, AnyStateMachine>;
  /** Loads a run's agent (only from a module the user trusts), for runs that recorded no graph and whose machine is not given. */
  agentFor?: (runId: string) => Promise<Agent>;
}

/** The agent an actor path (`writer`, `writer/checker`) names among the agents `agent` invokes. */
function agentAt(agent: Agent, path: string): Agent | undefined {
  let found: Agent | undefined = agent;
  for (const name of path ? path.split('/') : []) found = found?.agents[name];
  return found;
}

/**
 * Draws the statecharts of runs, from the machine graph the store keeps for the run's machine (or an
 * invoked agent's), else from a machine the inspector was given, else from the agent's trusted code.
 * Each machine version is laid out once.
 */
export class RunDiagrams {
  readonly #options: RunDiagramsOptions;
  readonly #svgs = new Map<string, Promise<string>>();

  constructor(options: RunDiagramsOptions) {
    this.#options = options;
  }

  #draw(key: string, graph: () => MachineGraph): Promise<string> {
    let svg = this.#svgs.get(key);
    if (!svg) {
      svg = toSvg(toDot(graph()));
      this.#svgs.set(key, svg);
      svg.catch(() => this.#svgs.delete(key));
    }
    return svg;
  }

  /** The configured machine `id`, drawn (the inspector's `/api/machines/<id>.svg`). */
  configured(id: string): Promise<string> {
    const machine = this.#options.machines[id];
    if (!machine) {
      throw new HttpStatusError(404, `No machine "${id}" is configured in the inspector; known machines: ${Object.keys(this.#options.machines).join(', ') || 'none'}. Pass it in startInspector's \`machines\` option.`);
    }
    return this.#draw(`configured ${id}`, () => machineGraph(machine));
  }

  /** The diagram of run `runId`'s machine, or with `agent` (a path of actor names) of that invoked agent's. */
  async run(runId: string, agent = ''): Promise<RunDiagram> {
    const found = await this.#graph(runId, agent);
    return { svg: await this.#draw(found.key, found.graph), source: found.source, machine: found.machine };
  }

  /**
   * The states of the run's machine that invoke each agent it invokes directly, by actor name, as
   * paths below the machine's root (`{ writer: ['write'] }`): the records spent in them are those
   * in which that agent runs.
   */
  async invokers(runId: string): Promise<Record<string, string[]>> {
    const [header, found] = await Promise.all([this.#options.store.header(runId), this.#graph(runId, '')]);
    const graph = found.graph();
    const names = new Set(Object.keys(header.invoked ?? {}).filter((path) => !path.includes('/')));
    const out: Record<string, string[]> = {};
    for (const node of graph.nodes) {
      for (const invoke of node.invokes) {
        if (!names.has(invoke.src)) continue;
        (out[invoke.src] ??= []).push(node.path.join('.'));
      }
    }
    return out;
  }

  async #graph(runId: string, agent: string): Promise<{ key: string; graph: () => MachineGraph; source: DiagramSource; machine: MachineRef }> {
    const { store, machines, agentFor } = this.#options;
    const header = await store.header(runId);
    const ref = agent === '' ? header.machine : header.invoked?.[agent];
    const what = agent === '' ? `run ${runId}` : `agent "${agent}" of run ${runId}`;
    if (ref) {
      const entry = await store.machine?.(ref.id, ref.hash);
      if (entry) return { key: `recorded ${ref.id} ${ref.hash}`, graph: () => entry.graph as MachineGraph, source: 'recorded', machine: ref };
    }
    const configuredId = ref?.id ?? (agent === '' ? undefined : agent.split('/').at(-1));
    const configured = configuredId === undefined ? undefined : machines[configuredId];
    const fromConfigured = () => ({ key: `configured ${configuredId}`, graph: () => machineGraph(configured!), source: 'configured' as const, machine: ref ?? { id: configuredId!, hash: '' } });
    // A configured machine of another version (an extension that kept the id) is drawn only when the agent's code cannot be.
    if (configured && (!ref || !agentFor || machineHash(configured) === ref.hash)) return fromConfigured();
    let loaded: Agent | undefined;
    let why = '';
    if (agentFor) {
      try {
        loaded = agentAt(await agentFor(runId), agent);
        if (!loaded) why = ` Its agent's code invokes no agent "${agent}".`;
      } catch (error) {
        why = ` Its agent's code was not loaded: ${(error as Error).message}`;
      }
    }
    if (loaded) {
      const machine = loaded.machine;
      const hash = machineHash(machine);
      return { key: `agent ${machine.id} ${hash}`, graph: () => machineGraph(machine), source: 'agent', machine: { id: machine.id, hash } };
    }
    if (configured) return fromConfigured();
    throw new HttpStatusError(
      404,
      `No diagram was recorded for ${what}${ref ? ` (machine "${ref.id}" version ${ref.hash})` : ''}: it was recorded before Statecraft kept machine graphs, or imported without them. ` +
        `Pass the machine in startInspector's \`machines\` option, or name the agent's module with \`npx statecraft inspect --agent <module>\`.${why}`,
    );
  }
}
