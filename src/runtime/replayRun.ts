import { createActor, type AnyActor, type AnyActorRef } from 'xstate';
import { Redactor } from '../credentials/Redactor.ts';
import { Secrets } from '../credentials/Secrets.ts';
import { UserError } from '../errors.ts';
import { applyPatchSafe } from '../log/format/applyPatch.ts';
import { diff, normalize } from '../log/format/patch.ts';
import { persistedSnapshot } from '../recorder/persistedSnapshot.ts';
import { canonicalJson } from '../log/format/canonicalJson.ts';
import type { Operation, RunHeader } from '../log/format/record.ts';
import { agentMachine } from '../../machines/agentMachine.ts';
import { machineHash } from './machineHash.ts';
import type { RunStore } from '../log/stores/runStore.ts';
import type { ModelPort } from '../protocol/model.ts';
import type { Agent } from './defineAgent.ts';
import { provideAgent } from './provideAgent.ts';

/** The first record whose patch the current code does not reproduce. */
export interface Divergence {
  seq: number;
  eventType: string;
  expected: Operation[];
  actual: Operation[];
}

export interface ReplayReport {
  runId: string;
  /** Records compared (events sent to the machine). */
  replayed: number;
  /** Records that are notes (resume, fork, model swap) and carry no transition. */
  notes: number;
  ok: boolean;
  divergence?: Divergence;
  /**
   * What differs between the agent given and the one that recorded the run, which patches alone do
   * not show: its name, its machine's definition, and the instructions and limits of the recorded
   * first state (replay starts from that state, so changes to them are not replayed).
   */
  warnings: string[];
}

/** The actor a record's event went to: the root, or a child agent named by its invoke-id path. */
function targetOf(root: AnyActor, path: unknown, seq: number): AnyActorRef {
  if (typeof path !== 'string' || !path) return root;
  let current: AnyActorRef = root;
  for (const id of path.split('/')) {
    const child = (current.getSnapshot() as { children?: Record<string, AnyActorRef> }).children?.[id];
    if (!child) throw new UserError(`Record ${seq} was sent to child actor "${path}", which the replayed machine does not have at that point: the machine changed.`);
    current = child;
  }
  return current;
}

/** True for the root's done or error event of a child that is itself a state machine. */
function completesChild(root: AnyActor, eventType: string, path: unknown): boolean {
  const match = /^xstate\.(?:done|error)\.actor\.(.+)$/.exec(eventType);
  if (!match || path) return false;
  const child = (root.getSnapshot() as { children?: Record<string, { logic?: { root?: unknown } }> }).children?.[match[1]!];
  return Boolean(child?.logic?.root);
}

/** See `ReplayReport.warnings`. */
function differences(agent: Agent, header: RunHeader, snapshot: unknown): string[] {
  const warnings: string[] = [];
  if (header.agent.id !== agent.name) warnings.push(`The run was recorded by agent "${header.agent.id}", not "${agent.name}".`);
  if (header.machine.hash !== machineHash(agent.machine)) warnings.push("The agent's machine definition changed since the run was recorded.");
  const context = (snapshot as { context?: { messages?: { role: string; content: unknown }[]; limits?: Record<string, unknown> } }).context;
  const system = context?.messages?.[0]?.role === 'system' ? context.messages[0].content : undefined;
  if (agent.machine === agentMachine && system !== agent.instructions) {
    warnings.push("The agent's instructions changed since the run was recorded; replay starts from the recorded first state, which keeps the old ones.");
  }
  for (const key of ['maxSteps', 'maxTokens', 'maxCostUsd'] as const) {
    const recorded = context?.limits?.[key];
    if (agent.machine === agentMachine && recorded !== agent.limits[key]) {
      warnings.push(`The agent's limits.${key} is ${String(agent.limits[key])} now and was ${String(recorded)} when the run was recorded; replay keeps the recorded one.`);
    }
  }
  return warnings;
}

const noModel: ModelPort = {
  info: { provider: 'replay', model: 'replay', params: {} },
  complete: () => new Promise(() => {}),
};

/**
 * Drive the agent's machine again with a run's recorded events, calling no model and no tool, and
 * compare each produced patch with the recorded one: the check that changed code still reproduces old runs.
 * @example
 * const report = await replayRun(agent, runId, { store });
 * if (!report.ok) console.log('diverges at', report.divergence.seq);
 */
export async function replayRun(agent: Agent, runId: string, options: { store: RunStore }): Promise<ReplayReport> {
  const [header, records] = await Promise.all([options.store.header(runId), options.store.read(runId)]);
  const first = records[0];
  if (!first?.snapshot) throw new UserError(`Run ${runId} has no records to replay.`);
  const warnings = differences(agent, header, first.snapshot);
  const redactor = new Redactor();
  const secrets = new Secrets({ provider: agent.credentials, grants: agent.secrets, redactor });
  const machine = provideAgent(agent, { runId, model: noModel, emit: () => {}, durable: async () => {}, inert: true, redactor, secrets });
  const actor: AnyActor = createActor(machine, { snapshot: first.snapshot as never });
  actor.start();
  let previous: unknown = persistedSnapshot(actor);
  let replayed = 0;
  let notes = 0;
  // A child agent's completion reaches its parent by itself: the parent's recorded done event is not
  // sent again, and the state is compared whole once the child's own last step has been replayed.
  let pending: { expected: unknown; patches: Operation[] } | undefined;
  try {
    for (const record of records.slice(1)) {
      if (record.event.type.startsWith('statecraft.')) {
        notes++;
        continue;
      }
      replayed++;
      if (pending || completesChild(actor, record.event.type, record.meta?.actor)) {
        pending ??= { expected: normalize(previous), patches: [] };
        pending.expected = applyPatchSafe(pending.expected as never, record.patch);
        pending.patches.push(...record.patch);
      }
      if (!completesChild(actor, record.event.type, record.meta?.actor)) {
        targetOf(actor, record.meta?.actor, record.seq).send(record.event);
      }
      const next = persistedSnapshot(actor);
      const actual = diff(previous, next);
      if (pending) {
        if (canonicalJson(normalize(next)) === canonicalJson(pending.expected as never)) {
          pending = undefined;
          previous = next;
        }
        continue;
      }
      if (JSON.stringify(normalize(actual)) !== JSON.stringify(normalize(record.patch))) {
        return { runId, replayed, notes, ok: false, warnings, divergence: { seq: record.seq, eventType: record.event.type, expected: record.patch, actual } };
      }
      previous = next;
    }
    if (pending) {
      const last = records.at(-1)!;
      return { runId, replayed, notes, ok: false, warnings, divergence: { seq: last.seq, eventType: last.event.type, expected: pending.patches, actual: diff(previous, persistedSnapshot(actor)) } };
    }
  } finally {
    actor.stop();
  }
  return { runId, replayed, notes, ok: true, warnings };
}
