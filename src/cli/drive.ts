import { createInterface } from 'node:readline/promises';
import { UserError } from '../errors.ts';
import { createOpenAIModel } from '../model/openaiModel.ts';
import type { ModelPort } from '../protocol/model.ts';
import type { Run } from '../runtime/Run.ts';
import type { PendingCall, RunEvent } from '../runtime/runEvents.ts';
import type { Script } from '../testing/script.ts';
import { startScriptedServer, type ScriptedServer } from '../testing/scriptedServer.ts';
import { exitCodeOf } from './exitCodes.ts';
import type { AgentModule } from './loadAgent.ts';
import { createProgress } from './progress.ts';

export type ApproveMode = 'ask' | 'all' | 'none' | 'wait';

export const approveHelp = `  --approve MODE     tool calls that need approval: ask on the terminal (default when interactive),
                     wait (default otherwise: once no agent of the run is still working, record it as
                     waiting and exit 4; decide later with statecraft approve / reject), all (approve
                     every call), none (reject every call)`;

export function approveMode(value: unknown): ApproveMode {
  const mode = (value as string | undefined) ?? (process.stdin.isTTY ? 'ask' : 'wait');
  if (!['ask', 'all', 'none', 'wait'].includes(mode)) throw new UserError(`--approve must be ask, wait, all or none, found "${mode}".`);
  return mode as ApproveMode;
}

const hasEndpoint = () => Boolean(process.env.OPENAI_API_KEY || process.env.OPENAI_BASE_URL);

const skipSteps = (script: Script, done: number): Script =>
  typeof script === 'function' ? (index, request) => script(index + done, request) : script.slice(done);

/**
 * The model for a CLI run: the configured endpoint, or the module's scripted model on a loopback
 * server when no endpoint is set (or `--scripted`), skipping the script steps a resumed run already used.
 */
export async function chooseModel(
  module: AgentModule,
  options: { model?: string; scripted?: boolean; turnsDone?: number; quiet?: boolean },
): Promise<{ model: ModelPort | string | undefined; server?: ScriptedServer }> {
  if (!module.script || (!options.scripted && hasEndpoint())) return { model: options.model };
  const server = await startScriptedServer(skipSteps(module.script, options.turnsDone ?? 0));
  if (!options.quiet) process.stderr.write(`No OPENAI_API_KEY or OPENAI_BASE_URL: playing the module's scripted model at ${server.url}\n`);
  const model = createOpenAIModel({ baseURL: server.url, apiKey: 'scripted', model: options.model ?? module.scriptModel ?? 'scripted' });
  return { model, server };
}

async function decide(mode: ApproveMode, calls: PendingCall[], run: Run, print: (text: string) => void) {
  if (mode === 'wait') {
    const result = await run.detach();
    print(`Run ${run.runId} waits for approval. Decide with:\n`);
    for (const call of calls) {
      const where = call.actor === undefined ? '' : ` --actor ${call.actor}`;
      print(`  statecraft approve ${run.runId} ${call.id}${where} --hash ${call.argsHash}    # ${call.name}(${call.arguments})${call.actor === undefined ? '' : ` in ${call.actor}`}\n`);
    }
    print(`  statecraft reject ${run.runId} <call> --reason "..."\n`);
    return result;
  }
  for (const call of calls) {
    const actor = call.actor ?? '';
    if (mode === 'all') run.approve(call.id, { by: 'cli --approve all', actor, ...(call.argsHash ? { argsHash: call.argsHash } : {}) });
    else if (mode === 'none') run.reject(call.id, 'Not approved: the operator rejects every call in this run (--approve none).', { by: 'cli --approve none', actor });
    else {
      const rl = createInterface({ input: process.stdin, output: process.stderr });
      const answer = (await rl.question(`Allow ${call.name}(${call.arguments})${call.actor === undefined ? '' : ` in ${call.actor}`}? [y/N/reason to reject] `)).trim();
      rl.close();
      if (/^y(es)?$/i.test(answer)) run.approve(call.id, { by: 'cli prompt', actor, ...(call.argsHash ? { argsHash: call.argsHash } : {}) });
      else run.reject(call.id, answer && !/^n(o)?$/i.test(answer) ? answer : 'Rejected by the user.', { by: 'cli prompt', actor });
    }
  }
  return undefined;
}

/** Show a run's progress (or JSON lines), answer its approvals as `mode` says, and return the exit code. */
export async function drive(run: Run, options: { json: boolean; approve: ApproveMode; server?: ScriptedServer }): Promise<number> {
  const out = (text: string) => process.stdout.write(text);
  const err = (text: string) => process.stderr.write(text);
  run.on(options.json ? (event: RunEvent) => out(`${JSON.stringify(event)}\n`) : createProgress(out, process.stdout.isTTY === true));
  if (!options.json) err(`run ${run.runId} · agent ${run.agent.name} · model ${run.model.info.model}\n`);
  let detaching = false;
  run.on((event) => {
    const requested = event.type === 'approval.requested' && event.calls.length > 0;
    // Waiting (detaching) is put off while another agent of the run still calls its model or runs tools,
    // which a detach would throw away: it comes once that work settles (a state change, a tool's end).
    const settled = options.approve === 'wait' && (event.type === 'state' || event.type === 'tool.end');
    if (!requested && !settled) return;
    // Decided after the current step, on what still waits then: decisions may already be queued.
    setImmediate(() => {
      const calls = run.pendingApprovals;
      if (calls.length === 0 || detaching) return;
      if (options.approve === 'wait') {
        if (run.busy) return;
        detaching = true;
      }
      void decide(options.approve, calls, run, options.json ? () => {} : err).catch((error: unknown) => {
        err(`${(error as Error).message}\n`);
        run.cancel('Approval prompt failed.');
      });
    });
  });
  const onSigint = () => run.cancel('Interrupted (SIGINT).');
  process.once('SIGINT', onSigint);
  try {
    const result = await run.result;
    return exitCodeOf(result.status);
  } finally {
    process.off('SIGINT', onSigint);
    await options.server?.close();
  }
}
