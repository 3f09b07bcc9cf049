import { createActor, type AnyActor } from 'xstate';
import { Redactor } from '../credentials/Redactor.ts';
import { Secrets } from '../credentials/Secrets.ts';
import { UserError } from '../errors.ts';
import { diff, normalize } from '../log/patch.ts';
import type { Operation } from '../log/record.ts';
import type { RunStore } from '../log/runStore.ts';
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
  const records = await options.store.read(runId);
  const first = records[0];
  if (!first?.snapshot) throw new UserError(`Run ${runId} has no records to replay.`);
  const redactor = new Redactor();
  const secrets = new Secrets({ provider: agent.credentials, grants: agent.secrets, redactor });
  const machine = provideAgent(agent, { runId, model: noModel, emit: () => {}, durable: async () => {}, inert: true, redactor, secrets });
  const actor: AnyActor = createActor(machine, { snapshot: first.snapshot as never });
  actor.start();
  let previous: unknown = actor.getPersistedSnapshot();
  let replayed = 0;
  let notes = 0;
  try {
    for (const record of records.slice(1)) {
      if (record.event.type.startsWith('statecraft.')) {
        notes++;
        continue;
      }
      actor.send(record.event);
      const next = actor.getPersistedSnapshot();
      const actual = diff(previous, next);
      replayed++;
      if (JSON.stringify(normalize(actual)) !== JSON.stringify(normalize(record.patch))) {
        return { runId, replayed, notes, ok: false, divergence: { seq: record.seq, eventType: record.event.type, expected: record.patch, actual } };
      }
      previous = next;
    }
  } finally {
    actor.stop();
  }
  return { runId, replayed, notes, ok: true };
}
