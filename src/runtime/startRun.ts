import { randomUUID } from 'node:crypto';
import { RUN_FORMAT, type RunHeader } from '../log/format/record.ts';
import type { AgentInput } from '../protocol/agent.ts';
import type { ModelPort } from '../protocol/model.ts';
import { assertPriced, type Agent } from './defineAgent.ts';
import { machineHash } from './machineHash.ts';
import { invokedMachines, runMachineEntries } from './runMachines.ts';
import { resolveModel } from './resolveModel.ts';
import { Run } from './Run.ts';
import { checkMemoryIdentity, identityLabels, identityOf } from './memoryOptions.ts';
import { RunTelemetry } from '../telemetry/RunTelemetry.ts';
import type { RunOptions } from './runOptions.ts';
import type { RunStore } from '../log/stores/runStore.ts';
import type { RunResult } from './runEvents.ts';

/** The header a new recorded run starts with. */
export function runHeader(agent: Agent, model: ModelPort, runId: string, input: Pick<AgentInput, 'input'>, extra: Partial<RunHeader> = {}): RunHeader {
  const invoked = invokedMachines(agent);
  return {
    format: RUN_FORMAT,
    runId,
    agent: { id: agent.name, version: agent.version },
    machine: { id: agent.machine.id, hash: machineHash(agent.machine) },
    ...(invoked ? { invoked } : {}),
    model: model.info,
    createdAt: new Date().toISOString(),
    input: input.input,
    ...extra,
  };
}

/**
 * Start an agent run and return its handle at once; with a `store`, every transition is recorded.
 * @example
 * const run = startRun(agent, { input: 'Summarise README.md', store: openStore() });
 * run.on((event) => event.type === 'approval.requested' && run.approve(event.calls[0].id));
 * const result = await run.result;
 */
export function startRun(agent: Agent, options: RunOptions = {}): Run {
  const model = resolveModel(options.model ?? agent.model);
  assertPriced(agent, model.info.model);
  const runId = options.runId ?? randomUUID();
  const identity = { ...identityOf(options.labels), ...options.identity };
  checkMemoryIdentity(agent, identity, runId);
  const labels = { ...identityLabels(identity), ...options.labels };
  const input = agentInput(agent, runId, options.input, options.history);
  const telemetry = RunTelemetry.open({ runId, agent: { name: agent.name, version: agent.version }, model: model.info }, options.telemetry);
  const extra = { ...(Object.keys(labels).length ? { labels } : {}), ...(telemetry?.traceparent ? { traceparent: telemetry.traceparent } : {}) };
  const header = options.store ? runHeader(agent, model, runId, input, extra) : undefined;
  const machines = header ? runMachineEntries(agent) : undefined;
  return new Run(agent, model, runId, { kind: 'new', input, header, telemetry, ...(machines ? { machines } : {}) }, { ...options, identity });
}

/**
 * Start a run that was created in the store by `submitRun` and has no record yet (a worker taking it
 * from the queue): its input is the header's, its first record the initial state.
 */
export function startQueuedRun(agent: Agent, header: RunHeader, options: Omit<RunOptions, 'input' | 'history' | 'runId' | 'labels'> & { store: RunStore }): Run {
  const model = resolveModel(options.model ?? agent.model);
  assertPriced(agent, model.info.model);
  const input = agentInput(agent, header.runId, typeof header.input === 'string' ? header.input : undefined, undefined);
  const identity = identityOf(header.labels);
  const telemetry = RunTelemetry.open({ runId: header.runId, agent: { name: agent.name, version: agent.version }, model: model.info }, options.telemetry);
  return new Run(agent, model, header.runId, { kind: 'new', input, header, created: true, telemetry, machines: runMachineEntries(agent) }, { ...options, ...(identity ? { identity } : {}) });
}

/** The machine's input for a new run; a deadline is counted from now. */
function agentInput(agent: Agent, runId: string, text: string | undefined, history: RunOptions['history']): AgentInput {
  return {
    runId,
    input: text,
    instructions: agent.instructions,
    history,
    limits: {
      maxSteps: agent.limits.maxSteps,
      maxTokens: agent.limits.maxTokens,
      maxCostUsd: agent.limits.maxCostUsd,
      deadlineAt: agent.limits.timeoutMs === undefined ? undefined : Date.now() + agent.limits.timeoutMs,
    },
    approval: agent.approval,
  };
}

/** Run an agent to its end and return how it ended. */
export function runAgent(agent: Agent, input: string, options: Omit<RunOptions, 'input'> = {}): Promise<RunResult> {
  return startRun(agent, { ...options, input }).result;
}
