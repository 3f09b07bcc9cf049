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
import { UserError } from '../errors.ts';
import { TENANT_LABEL } from '../log/stores/listing.ts';
import { startingWindow } from './compaction/compactionDue.ts';
import { PREVIOUS_LABEL, threadHistory } from './threads.ts';

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
  if (options.thread !== undefined) {
    throw new UserError(`startRun was given thread "${options.thread}": a run of a thread starts once the thread's last run is read, so start it with \`await startThreadRun(agent, options)\` (or runAgent).`);
  }
  const model = resolveModel(options.model ?? agent.model);
  assertPriced(agent, model.info.model);
  const runId = options.runId ?? randomUUID();
  const identity = { ...identityOf(options.labels), ...options.identity };
  checkMemoryIdentity(agent, identity, runId);
  const labels = { ...identityLabels(identity), ...options.labels };
  const input = agentInput(agent, runId, options.input, options.history);
  const window = options.history?.length ? startingWindow(agent, model.info.model) : undefined;
  if (window) input.window = window;
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

/**
 * Start the next run of a conversation thread: the thread's last run is read from the store, and the
 * new run starts from the messages it ended with (compacted first when the agent compacts and they
 * pass its share of the window), with `input` as the user's new message. A thread with no run yet
 * starts fresh; one whose last run has not ended is refused, naming it. The run's header names the
 * thread and the run it continues (labels `statecraft.thread`, `statecraft.thread.previous`); a
 * tenant (`identity.tenant`) sees only its own threads.
 * @example
 * await runAgent(agent, 'My name is Ada.', { store, thread: 'chat-1' });
 * const run = await startThreadRun(agent, { input: 'What is my name?', store, thread: 'chat-1' });
 */
export async function startThreadRun(agent: Agent, options: RunOptions & { thread: string }): Promise<Run> {
  const { thread, ...rest } = options;
  if (!rest.store) throw new UserError(`Thread "${thread}" is kept in a run store: pass \`store\` (openStore()) to continue it.`);
  if (rest.history) throw new UserError(`A run of thread "${thread}" starts from the thread's messages: leave \`history\` out, or start a run outside the thread.`);
  if (!thread) throw new UserError('A thread id must be a non-empty string.');
  const tenant = rest.identity?.tenant ?? rest.labels?.[TENANT_LABEL];
  const { previous, history } = await threadHistory(rest.store, { thread, tenant });
  return startRun(agent, {
    ...rest,
    ...(history.length ? { history } : {}),
    identity: { ...identityOf(rest.labels), ...rest.identity, thread },
    labels: { ...rest.labels, ...(previous ? { [PREVIOUS_LABEL]: previous.runId } : {}) },
  });
}

/** Run an agent to its end and return how it ended; with `thread`, as the thread's next run (see `startThreadRun`). */
export function runAgent(agent: Agent, input: string, options: Omit<RunOptions, 'input'> = {}): Promise<RunResult> {
  const { thread } = options;
  if (thread === undefined) return startRun(agent, { ...options, input }).result;
  return startThreadRun(agent, { ...options, input, thread }).then((run) => run.result);
}
