import type { AnyActorRef } from 'xstate';
import { ToolError } from '../errors.ts';
import type { AgentContext, CallState } from '../protocol/agent.ts';
import { mapWithConcurrency } from '../tools/limitConcurrency.ts';
import { runTool } from '../tools/runTool.ts';
import { oneLine } from './decisionEvents.ts';
import type { Agent } from './defineAgent.ts';
import { lastAssistant } from './dispatchCalls.ts';
import type { RunHooks } from './provideAgent.ts';

/**
 * The same for every attempt and resume of one call, and different for every other call of the run:
 * models reuse call ids across turns ("call_0" each time), and invoked agents number their own.
 */
const idempotencyKey = (hooks: RunHooks, step: number, callId: string) =>
  [hooks.runId, ...(hooks.scope ?? []), `step${step}`, callId].join(':');

const runnable = (call: CallState) => call.status === 'ready' || call.status === 'approved' || call.status === 'running';

/**
 * Run the turn's approved calls, at most `toolConcurrency` at once. Each call's start is recorded and
 * durable (with every record before it) before its side effect begins; a call found `running` (it
 * started before a crash) follows its tool's `onResume`: run again, wait for a human, or fail the run.
 */
export async function executeCalls(agent: Agent, hooks: RunHooks, parent: AnyActorRef, context: AgentContext, signal: AbortSignal): Promise<void> {
  const calls = new Map(lastAssistant(context).toolCalls?.map((call) => [call.id, call]));
  const redact = (text: string) => hooks.redactor.redactString(text);
  const finish = (callId: string, content: string, isError: boolean, extra: object = {}) =>
    parent.send({ type: 'TOOL_FINISHED', callId, outcome: { content, isError, ...extra } });

  await mapWithConcurrency(
    (context.turn?.calls ?? []).filter(runnable),
    agent.toolConcurrency,
    async (state: CallState) => {
      const call = calls.get(state.id);
      const checked = call && agent.toolbox.validateCall(state.arguments === undefined ? call : { ...call, arguments: state.arguments });
      if (!checked || !checked.ok) return finish(state.id, redact(checked?.message ?? `No tool call ${state.id} in this turn.`), true);
      if (state.status === 'running' && checked.tool.onResume !== 'rerun') {
        const what =
          `Tool call ${state.id} (${state.name}) of run ${hooks.runId} started before the process stopped and never finished; ` +
          'whether its side effect happened is unknown.';
        if (checked.tool.onResume === 'fail') {
          throw new ToolError(
            `${what} The tool declares onResume: 'fail', so the run stops here. Check the side effect by hand, then fork the run from before this call if it should go on.`,
          );
        }
        parent.send({ type: 'TOOL_INTERRUPTED', callId: state.id, note: `${what} Approve to run it again with the same idempotency key, or reject it.` });
        return;
      }
      parent.send({ type: 'TOOL_STARTED', callId: state.id });
      // A tool that may not run twice must never start before its start is on disk, even through a power
      // loss; an idempotent one may simply run again, so a crash-safe (not fsynced) record is enough.
      await hooks.durable({ sync: !checked.tool.idempotent });
      // A worker frozen past its lease while the start was written finds out here, before the side
      // effect: the worker that took the run over sees the call started and handles it by onResume.
      if (signal.aborted || hooks.holds?.() === false) return;
      hooks.emit({ type: 'tool.start', runId: hooks.runId, callId: state.id, tool: state.name, ...(hooks.content ? { arguments: state.arguments ?? call.arguments } : {}) });
      const result = await runTool(checked.tool, checked.args, {
        ctx: {
          runId: hooks.runId,
          callId: state.id,
          idempotencyKey: idempotencyKey(hooks, context.step, state.id),
          toolName: state.name,
          secrets: hooks.secrets.forTool(checked.tool.name, checked.tool.secrets),
          elidedOutput: (id) => (context.elided && Object.hasOwn(context.elided, id) ? context.elided[id] : undefined),
          ...(hooks.identity ? { identity: hooks.identity } : {}),
        },
        signal,
        defaultTimeoutMs: agent.toolTimeoutMs,
        maxOutputChars: agent.maxToolOutputChars,
        // Redacted before it is cut: a cut inside a secret would leave a part the redactor cannot recognise.
        redact,
      });
      if (signal.aborted) return;
      const error = result.error ? { error: oneLine(hooks.redactor.redactString(result.error.message)) } : {};
      hooks.emit({
        type: 'tool.end',
        runId: hooks.runId,
        callId: state.id,
        tool: state.name,
        isError: result.isError,
        durationMs: result.durationMs,
        ...error,
        ...(hooks.content ? { result: result.content } : {}),
      });
      finish(state.id, result.content, result.isError, {
        truncated: result.truncated,
        attempts: result.attempts,
        durationMs: result.durationMs,
      });
      // Written and synced at once rather than within the recorder's window: after a crash, a call of a
      // tool that may not run twice, found started and not finished, would stop the run for a human
      // decision. The next effect (a model request carrying this result, another tool) waits for it;
      // a failed write fails the run there.
      if (!checked.tool.idempotent) hooks.durable({ sync: true }).catch(() => {});
    },
    signal,
  );
}
