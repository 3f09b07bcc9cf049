import { UserError } from '../errors.ts';
import { stateAt } from '../log/reads/reads.ts';
import type { AgentContext } from '../protocol/agent.ts';
import { resumeRun } from '../runtime/resumeRun.ts';
import { decisionTarget } from '../runtime/waitingCalls.ts';
import type { Run } from '../runtime/Run.ts';
import type { Command } from './args.ts';
import { approveHelp, approveMode, chooseModel, drive, exitHelp, type ApproveMode } from './drive.ts';
import { agentForRun, agentOptionHelp, retryHere } from './agentForRun.ts';
import { pricesHelp, pricesOptions, usePriceFile } from './pricesOption.ts';
import { storeHelp, storeOptions, withRun } from './storeOption.ts';

const agentHelp = `${agentOptionHelp}
  --take-over        continue the run even though another process still claims it (it is running
                     and was heard from within 30 s): for a process that is gone or frozen
  --model NAME       model name for the rest of the run (as statecraft run --model)
  --scripted         play the module's script even when an endpoint is configured`;

/** --approve for the calls a run waits on after a decision: it defaults to wait, even on a terminal. */
const laterApproveHelp = approveHelp.replace(/default when interactive;\s+answers /, 'answers\n                     ').replace('wait (default otherwise:', 'wait (default:');

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

/** A decision on waiting calls: `check` refuses it from the calls on record, `act` sends it to the restored run. */
interface Decision {
  check(waiting: StoredCall[], runId: string): void;
  act(run: Run): void;
}

/** Resume a run from the store and drive it from the terminal; a `decision` is checked first and sent once the run is restored. */
async function resumeAndDrive(values: Record<string, unknown>, runId: string, approve: ApproveMode, decision?: Decision): Promise<number> {
  await usePriceFile(values);
  return withRun(values, runId, async (store, runId) => {
    const { lastSeq, status, waitingOn } = await store.summary(runId);
    if (decision) {
      const waiting = Array.isArray(waitingOn) ? (waitingOn as StoredCall[]) : [];
      if (!waiting.length) throw new UserError(`Run ${runId} has no tool call waiting for approval (its status is ${status}), so nothing was decided.`);
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
    const code = await drive(run, { json: values.json === true, approve: refused === undefined ? approve : 'wait', server });
    if (refused !== undefined) throw refused;
    return code;
  });
}

/** The arguments hash of a waiting call, so a decision made here is bound to the arguments on record. */
const hashOf = (run: Run, callId: string, actor?: string) =>
  run.pendingApprovals.find((call) => call.id === callId && (actor === undefined || (call.actor ?? '') === actor))?.argsHash;

const shared = { json: { type: 'boolean' }, agent: { type: 'string' }, model: { type: 'string' }, scripted: { type: 'boolean' }, 'take-over': { type: 'boolean' }, ...pricesOptions, ...storeOptions } as const;

export const resumeCommand: Command = {
  name: 'resume',
  summary: 'continue a recorded run after a pause or a crash',
  usage: 'statecraft resume <run> [--approve MODE] [--agent MODULE] [--take-over] [--model NAME] [--scripted] [--json] [--store URL]',
  help: `Continues a run from its last record, in this process. A model call that was in flight is asked
again; a tool call that started and never finished runs again only if its tool says that is safe
(onResume: 'rerun'), otherwise it waits for a human (onResume: 'ask') or the run fails ('fail').

A run that another process is still running is refused (exit 2): it names that process. A run whose
process crashed on this machine can be resumed at once; one from another machine once its claim is
30 s old, or at once with --take-over.

Options:
${approveHelp}
${agentHelp}
  --json             print one JSON object per line for every run event
${pricesHelp}
${storeHelp}

${exitHelp}`,
  options: { ...shared, approve: { type: 'string' } },
  async run(values, [runId]) {
    if (!runId) throw new UserError('Missing the run id. Usage: statecraft resume <run>; list runs with statecraft runs.');
    return resumeAndDrive(values, runId, approveMode(values.approve));
  },
};

export const approveCommand: Command = {
  name: 'approve',
  summary: 'approve tool calls a run waits on, then continue it',
  usage: 'statecraft approve <run> [call ...] [--by NAME] [--hash HASH] [--always] [--actor PATH] [--approve MODE] [--agent MODULE] [--take-over] [--model NAME] [--scripted] [--json] [--store URL]',
  help: `Approves the named tool calls (all waiting calls when none is named) and continues the run until it
ends or waits again. Calls not named keep waiting.

Every decision is recorded with the call id and the hash of the arguments it applies to.

Options:
  --by NAME          who approves (recorded with the decision; default $USER)
  --hash HASH        the arguments hash you reviewed (shown by statecraft runs and show); refused if
                     the call's arguments differ
  --always           approve this tool for the rest of the run
  --actor PATH       the invoked agent holding the call (as statecraft runs lists it; '' for the run's
                     own agent): needed only when agents wait on calls with the same id
${laterApproveHelp}
${agentHelp}
  --json             print one JSON object per line for every run event
${pricesHelp}
${storeHelp}

${exitHelp}`,
  options: { ...shared, by: { type: 'string' }, approve: { type: 'string' }, hash: { type: 'string' }, always: { type: 'boolean' }, actor: { type: 'string' } },
  async run(values, [runId, ...calls]) {
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
    });
  },
};

export const rejectCommand: Command = {
  name: 'reject',
  summary: 'reject a tool call a run waits on, with a reason the model sees',
  usage: 'statecraft reject <run> <call> --reason TEXT [--by NAME] [--hash HASH] [--actor PATH] [--approve MODE] [--agent MODULE] [--take-over] [--model NAME] [--scripted] [--json] [--store URL]',
  help: `Rejects one waiting tool call; the model receives the reason as that call's result. The run then
continues if nothing else waits.

Options:
  --reason TEXT      what the model is told (required)
  --by NAME          who rejects (default $USER)
  --hash HASH        the arguments hash you reviewed; refused if the call's arguments differ
  --actor PATH       the invoked agent holding the call ('' for the run's own agent): needed only when
                     agents wait on calls with the same id
${laterApproveHelp}
${agentHelp}
  --json             print one JSON object per line for every run event
${pricesHelp}
${storeHelp}

${exitHelp}`,
  options: { ...shared, by: { type: 'string' }, reason: { type: 'string' }, approve: { type: 'string' }, hash: { type: 'string' }, actor: { type: 'string' } },
  async run(values, [runId, callId]) {
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
    });
  },
};
