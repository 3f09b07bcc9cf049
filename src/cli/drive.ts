import { createInterface } from 'node:readline';
import { UserError } from '../errors.ts';
import { createOpenAIModel } from '../model/openaiModel.ts';
import type { AgentContext } from '../protocol/agent.ts';
import type { Message } from '../protocol/messages.ts';
import type { ModelPort } from '../protocol/model.ts';
import type { Run } from '../runtime/Run.ts';
import type { PendingCall, RunEvent } from '../runtime/runEvents.ts';
import type { Script } from '../testing/script.ts';
import { startScriptedServer, type ScriptedServer } from '../testing/scriptedServer.ts';
import { exitCodeOf } from './exitCodes.ts';
import type { AgentModule } from './loadAgent.ts';
import { useColor } from './color.ts';
import { createProgress } from './progress.ts';
import { shellQuote, withStoreOption } from './suggestedCommands.ts';
import { oneLine } from '../runtime/decisionEvents.ts';
import { interruptedBy, onInterrupt, signalExitCode } from './shutdown.ts';

export type ApproveMode = 'ask' | 'all' | 'none' | 'wait';

export function approveMode(value: unknown): ApproveMode {
  const mode = (value as string | undefined) ?? (process.stdin.isTTY ? 'ask' : 'wait');
  if (!['ask', 'all', 'none', 'wait'].includes(mode)) throw new UserError(`--approve must be ask, wait, all or none, found "${mode}".`);
  return mode as ApproveMode;
}

const hasEndpoint = () => Boolean(process.env.OPENAI_API_KEY || process.env.OPENAI_BASE_URL);

const skipSteps = (script: Script, done: number): Script =>
  typeof script === 'function' ? (index, request) => script(index + done, request) : script.slice(done);

/** The first `call_<n>` a script may generate after the ids a run's messages already hold (a machine of the user's may keep none). */
const nextCallId = (messages: readonly Message[] | undefined): number => {
  const calls = (messages ?? []).flatMap((message) => (message.role === 'assistant' ? (message.toolCalls ?? []) : []));
  return 1 + Math.max(0, ...calls.map((call) => Number(/^call_(\d+)$/.exec(call.id)?.[1] ?? 0)));
};

/**
 * The model for a CLI run: the configured endpoint, or the module's scripted model on a loopback
 * server when no endpoint is set (or `--scripted`). For a resumed run (`resumed`, its context), the
 * script skips the steps the run already used and numbers its calls after the run's.
 */
export async function chooseModel(
  module: AgentModule,
  options: { model?: string; scripted?: boolean; resumed?: AgentContext; quiet?: boolean },
): Promise<{ model: ModelPort | string | undefined; server?: ScriptedServer }> {
  if (!module.script || (!options.scripted && hasEndpoint())) return { model: options.model };
  const { resumed } = options;
  const server = await startScriptedServer(skipSteps(module.script, resumed?.step ?? 0), { firstCallId: resumed ? nextCallId(resumed.messages) : 1 });
  if (!options.quiet) process.stderr.write(`No OPENAI_API_KEY or OPENAI_BASE_URL: playing the module's scripted model at ${server.url}\n`);
  // The scripted server takes any key; this one differs from every model name, which the key's redaction would hide.
  const model = createOpenAIModel({ baseURL: server.url, apiKey: 'scripted-server-needs-no-key', model: options.model ?? module.scriptModel ?? 'scripted' });
  return { model, server };
}

/**
 * Answers typed or piped on stdin, read by one interface for the whole run: several answers piped at
 * once are all kept (an interface per question would lose those read ahead). `ask` gives undefined
 * once the input has ended.
 */
class Answers {
  // Not in terminal mode: that would put a terminal in raw mode for as long as the reader is open, and
  // Ctrl-C would then reach readline instead of cancelling the run. The terminal echoes and edits the line.
  readonly #rl = createInterface({ input: process.stdin, terminal: false });
  readonly #lines: string[] = [];
  #waiting: ((line: string | undefined) => void) | undefined;
  #ended = false;

  constructor() {
    this.#rl.on('line', (line) => {
      const waiting = this.#waiting;
      this.#waiting = undefined;
      if (waiting) waiting(line);
      else this.#lines.push(line);
    });
    this.#rl.on('close', () => {
      this.#ended = true;
      this.#waiting?.(undefined);
      this.#waiting = undefined;
    });
  }

  ask(question: string): Promise<string | undefined> {
    process.stderr.write(question);
    if (this.#lines.length) return Promise.resolve(this.#lines.shift());
    if (this.#ended) return Promise.resolve(undefined);
    return new Promise((resolve) => (this.#waiting = resolve));
  }

  close(): void {
    this.#rl.close();
  }
}

/** What `decide` did: sent decisions, let the run go (`detached`), or found no one to ask (`no-input`). */
type Decided = 'sent' | 'detached' | 'no-input';

async function decide(mode: ApproveMode, calls: PendingCall[], run: Run, print: (text: string) => void, answers: () => Answers, store: string | undefined): Promise<Decided> {
  if (mode === 'wait') {
    // Said before the run is let go: once it is, the run has ended and nothing more is printed.
    const detached = run.detach();
    print(`Run ${run.runId} waits for approval. Decide with:\n`);
    // Each line runs as printed; what the call asks is a shell comment, kept to one line.
    const target = (call: PendingCall) =>
      `${run.runId} ${shellQuote(call.id)}${call.actor === undefined ? '' : ` --actor ${shellQuote(call.actor)}`}${call.argsHash ? ` --hash ${call.argsHash}` : ''}`;
    for (const call of calls) {
      const what = oneLine(`${call.name}(${call.arguments})${call.actor === undefined ? '' : ` in ${call.actor}`}`, 120);
      print(withStoreOption(`  npx statecraft approve ${target(call)}    # ${what}\n`, store));
    }
    print(withStoreOption(`or reject one, with what the model is told instead:\n  npx statecraft reject ${target(calls[0]!)} --reason 'Not now.'\n`, store));
    await detached;
    return 'detached';
  }
  for (const call of calls) {
    const actor = call.actor ?? '';
    if (mode === 'all') run.approve(call.id, { by: 'cli --approve all', actor, ...(call.argsHash ? { argsHash: call.argsHash } : {}) });
    else if (mode === 'none') run.reject(call.id, 'Not approved: the operator rejects every call in this run (--approve none).', { by: 'cli --approve none', actor });
    else {
      const answer = (await answers().ask(`Allow ${call.name}(${call.arguments})${call.actor === undefined ? '' : ` in ${call.actor}`}? [y/N/reason to reject] `))?.trim();
      if (answer === undefined) {
        print('\nNo answer: the input ended. The run is left waiting for the calls not decided.\n');
        return 'no-input';
      }
      if (/^y(es)?$/i.test(answer)) run.approve(call.id, { by: 'cli prompt', actor, ...(call.argsHash ? { argsHash: call.argsHash } : {}) });
      else run.reject(call.id, answer && !/^n(o)?$/i.test(answer) ? answer : 'Rejected by the user.', { by: 'cli prompt', actor });
    }
  }
  return 'sent';
}

/** Show a run's progress (or JSON lines), answer its approvals as `mode` says, and return the exit code. */
export async function drive(run: Run, options: { json: boolean; approve: ApproveMode; server?: ScriptedServer; store?: string }): Promise<number> {
  const out = (text: string) => process.stdout.write(text);
  const err = (text: string) => process.stderr.write(text);
  run.on(options.json ? (event: RunEvent) => out(`${JSON.stringify(event)}\n`) : createProgress(out, useColor(process.stdout)));
  if (!options.json) err(`run ${run.runId} · agent ${run.agent.name} · model ${run.model.info.model}\n`);
  let detaching = false;
  // Once the run has ended (a Ctrl-C while a question was open), a question left open says nothing more.
  let ended = false;
  const say = (text: string) => {
    if (!ended) err(text);
  };
  // An answer prompt whose input ends turns into waiting: the run is let go, to be decided later.
  let mode = options.approve;
  // Made on the first question only: reading stdin would keep the process alive until it is closed.
  let terminal: Answers | undefined;
  const answers = () => (terminal ??= new Answers());
  const consider = () => {
    const calls = run.pendingApprovals;
    if (calls.length === 0 || detaching) return;
    if (mode === 'wait') {
      if (run.busy) return;
      detaching = true;
    }
    void decide(mode, calls, run, options.json ? () => {} : say, answers, options.store).then(
      (decided) => {
        if (decided !== 'no-input') return;
        mode = 'wait';
        setImmediate(consider);
      },
      (error: unknown) => {
        err(`${(error as Error).message}\n`);
        run.cancel('Approval prompt failed.');
      },
    );
  };
  run.on((event) => {
    const requested = event.type === 'approval.requested' && event.calls.length > 0;
    // Waiting (detaching) is put off while another agent of the run still calls its model or runs tools,
    // which a detach would throw away: it comes once that work settles (a state change, a tool's end).
    const settled = mode === 'wait' && (event.type === 'state' || event.type === 'tool.end');
    if (!requested && !settled) return;
    // Decided after the current step, on what still waits then: decisions may already be queued.
    setImmediate(consider);
  });
  // Ctrl-C or SIGTERM cancels the run, which is recorded as cancelled; a second one exits at once.
  const release = onInterrupt((signal) => run.cancel(`Interrupted (${signal}).`));
  try {
    const result = await run.result;
    const signal = interruptedBy();
    return result.status === 'cancelled' && signal ? signalExitCode(signal) : exitCodeOf(result.status);
  } finally {
    ended = true;
    release();
    terminal?.close();
    await options.server?.close();
  }
}
