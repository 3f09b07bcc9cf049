import { UserError } from '../errors.ts';
import { stateAt } from '../log/reads/reads.ts';
import type { AgentContext } from '../protocol/agent.ts';
import { resumeRun } from '../runtime/resumeRun.ts';
import { decisionTarget } from '../runtime/waitingCalls.ts';
import type { Run } from '../runtime/Run.ts';
import type { CommandValues } from './args.ts';
import { approveMode, chooseModel, drive, type ApproveMode } from './drive.ts';
import { agentForRun, retryHere } from './agentForRun.ts';
import { usePriceFile } from './pricesOption.ts';
import { storeOf, withRun } from './storeOption.ts';
import type { PostgresStore } from '../log/stores/postgres/postgresStore.ts';
import { decideQueued, isWorkersRun, type QueuedDecision } from '../worker/decideQueued.ts';

/** A call a run waits on, as its summary records it (`waitingOn`). */
interface StoredCall {
  callId: string;
  tool: string;
  argsHash?: string;
  actor?: string;
}

/**
 * Refuse a decision on a call the run does not wait on, or made for other arguments, from the calls
 * on record: checked before the run is resumed, so a refused decision changes nothing in the log.
 * The run checks again, the same way, when the decision is sent.
 */
function checkDecision(runId: string, waiting: StoredCall[], callId: string, options: { hash?: string; actor?: string }): void {
  const view = (call: StoredCall) => ({ id: call.callId, name: call.tool, ...(call.argsHash === undefined ? {} : { argsHash: call.argsHash }), ...(call.actor === undefined ? {} : { path: call.actor }) });
  decisionTarget(runId, waiting, view, callId, options, () =>
    `Run ${runId}: no tool call ${callId} is waiting for approval, so nothing was decided. ` +
    `Calls waiting: ${waiting.map((call) => `${call.callId} (${call.tool}${call.actor === undefined ? '' : `, in ${call.actor}`})`).join(', ')}.`,
  );
}

/**
 * A decision on waiting calls: `check` refuses it from the calls on record, `act` sends it to the
 * restored run; `queued` words it for a workers' run, which is not resumed here (see decideQueued).
 */
interface Decision {
  check(waiting: StoredCall[], runId: string): void;
  act(run: Run): void;
  queued(waiting: StoredCall[]): QueuedDecision[];
}

/** Records a decision on a workers' run and queues its continuation: a worker resumes it, not this process. */
async function queueDecision(values: Record<string, unknown>, store: PostgresStore, runId: string, decision: Decision, waiting: StoredCall[]): Promise<number> {
  decision.check(waiting, runId);
  const decided = await decideQueued(store, runId, decision.queued(waiting));
  const calls = decided.map((one) => `${one.callId}${one.actor ? ` (in ${one.actor})` : ''}`).join(', ');
  if (values.json === true) console.log(JSON.stringify({ runId, queued: true, decisions: decided }));
  else console.log(`Run ${runId}: ${decided[0]!.kind === 'reject' ? 'rejected' : 'approved'} ${calls}. The run belongs to the workers: one of them continues it (npx statecraft show ${runId}).`);
  return 0;
}

/** Resume a run from the store and drive it from the terminal; a `decision` is checked first and sent once the run is restored. */
async function resumeAndDrive(values: Record<string, unknown>, runId: string, approve: ApproveMode, decision?: Decision): Promise<number> {
  await usePriceFile(values);
  return withRun(values, runId, async (store, runId) => {
    const { lastSeq, status, waitingOn } = await store.summary(runId);
    if (decision) {
      const waiting = Array.isArray(waitingOn) ? (waitingOn as StoredCall[]) : [];
      if (!waiting.length) throw new UserError(`Run ${runId} has no tool call waiting for approval (its status is ${status}), so nothing was decided.`);
      if (await isWorkersRun(store, runId)) return queueDecision(values, store as PostgresStore, runId, decision, waiting);
      decision.check(waiting, runId);
    }
    const module = await agentForRun(store, runId, { agent: values.agent as string | undefined, retry: retryHere(values) });
    const { context } = (await stateAt(store, runId, lastSeq)) as unknown as { context: AgentContext };
    const { model, server } = await chooseModel(module, {
      model: values.model as string | undefined,
      scripted: values.scripted === true,
      resumed: context,
      quiet: values.json === true,
    });
    let run: Run;
    try {
      run = await resumeRun(module.agent, runId, { store, model, takeOver: values['take-over'] === true });
    } catch (error) {
      // A run that cannot be resumed (it ended, another agent recorded it) must not leave the
      // scripted server listening, which would keep this process alive.
      await server?.close();
      throw error;
    }
    // A decision refused (an unknown or ambiguous call, other arguments) leaves the run waiting as it
    // was: it is let go cleanly, with the calls still waiting listed, and then the error is reported.
    let refused: unknown;
    try {
      decision?.act(run);
    } catch (error) {
      refused = error;
    }
    const code = await drive(run, { json: values.json === true, approve: refused === undefined ? approve : 'wait', server, ...storeOf(values) });
    if (refused !== undefined) throw refused;
    return code;
  });
}

/** The arguments hash of a waiting call, so a decision made here is bound to the arguments on record. */
const hashOf = (run: Run, callId: string, actor?: string) =>
  run.pendingApprovals.find((call) => call.id === callId && (actor === undefined || (call.actor ?? '') === actor))?.argsHash;

export async function resume(values: CommandValues, [runId]: string[]): Promise<number> {
  if (!runId) throw new UserError('Missing the run id. Usage: statecraft resume <run>; list runs with npx statecraft runs.');
  return resumeAndDrive(values, runId, approveMode(values.approve));
}

export async function approve(values: CommandValues, [runId, ...calls]: string[]): Promise<number> {
  if (!runId) throw new UserError('Missing the run id. Usage: statecraft approve <run> [call ...]');
  const by = (values.by as string | undefined) ?? process.env.USER ?? 'cli';
  const named = values.actor as string | undefined;
  const hash = values.hash as string | undefined;
  return resumeAndDrive(values, runId, approveMode(values.approve ?? 'wait'), {
    check: (waiting, runId) => {
      const targets = calls.length ? calls.map((id) => ({ id, actor: named })) : waiting.map((call) => ({ id: call.callId, actor: call.actor ?? '' }));
      if (hash !== undefined && targets.length !== 1) throw new UserError('--hash names the arguments of one call: approve one call at a time with it.');
      for (const { id, actor } of targets) checkDecision(runId, waiting, id, { hash, actor });
    },
    act: (run) => {
      // Every waiting call when none is named, each in the agent that holds it.
      const targets = calls.length ? calls.map((id) => ({ id, actor: named })) : run.pendingApprovals.map((call) => ({ id: call.id, actor: call.actor ?? '' }));
      if (!targets.length) throw new UserError(`Run ${runId} has no tool call waiting for approval.`);
      if (hash !== undefined && targets.length !== 1) throw new UserError('--hash names the arguments of one call: approve one call at a time with it.');
      for (const { id, actor } of targets) {
        const argsHash = hash ?? hashOf(run, id, actor);
        run.approve(id, { by, ...(actor === undefined ? {} : { actor }), ...(argsHash ? { argsHash } : {}), ...(values.always ? { always: true } : {}) });
      }
    },
    queued: (waiting) =>
      (calls.length ? calls.map((id) => ({ id, actor: named })) : waiting.map((call) => ({ id: call.callId, actor: call.actor ?? '' }))).map(({ id, actor }) => ({
        kind: 'approve' as const,
        callId: id,
        by,
        ...(actor === undefined ? {} : { actor }),
        ...(hash === undefined ? {} : { argsHash: hash }),
        ...(values.always ? { always: true } : {}),
      })),
  });
}

export async function reject(values: CommandValues, [runId, callId]: string[]): Promise<number> {
  if (!runId || !callId) throw new UserError('Usage: statecraft reject <run> <call> --reason TEXT');
  const reason = values.reason as string | undefined;
  if (!reason) throw new UserError('--reason is required: it is what the model is told instead of the tool result.');
  const by = (values.by as string | undefined) ?? process.env.USER ?? 'cli';
  const actor = values.actor as string | undefined;
  const hash = values.hash as string | undefined;
  return resumeAndDrive(values, runId, approveMode(values.approve ?? 'wait'), {
    check: (waiting, runId) => checkDecision(runId, waiting, callId, { hash, actor }),
    act: (run) => {
      const argsHash = hash ?? hashOf(run, callId, actor);
      run.reject(callId, reason, { by, ...(actor === undefined ? {} : { actor }), ...(argsHash ? { argsHash } : {}) });
    },
    queued: () => [{ kind: 'reject', callId, by, reason, ...(actor === undefined ? {} : { actor }), ...(hash === undefined ? {} : { argsHash: hash }) }],
  });
}
