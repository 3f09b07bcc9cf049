import { createInterface } from 'node:readline/promises';
import { UserError } from '../errors.ts';
import { createOpenAIModel } from '../model/openaiModel.ts';
import type { ModelPort } from '../protocol/model.ts';
import { startRun } from '../runtime/Run.ts';
import type { RunEvent } from '../runtime/runEvents.ts';
import { startScriptedServer, type ScriptedServer } from '../testing/scriptedServer.ts';
import { intOption, type Command } from './args.ts';
import { exitCodeOf } from './exitCodes.ts';
import { loadAgent } from './loadAgent.ts';
import { createProgress } from './progress.ts';

const hasEndpoint = () => Boolean(process.env.OPENAI_API_KEY || process.env.OPENAI_BASE_URL);

export const runCommand: Command = {
  name: 'run',
  summary: 'run an agent defined in a file',
  usage: 'statecraft run <agent module> [--input TEXT] [--json] [--model NAME] [--max-steps N] [--approve ask|all|none]',
  help: `Runs the agent exported by a TypeScript or JavaScript module (default export, or an export named "agent").

Model: OPENAI_API_KEY / OPENAI_BASE_URL (any OpenAI-compatible server: OpenAI, Ollama, vLLM) and
STATECRAFT_MODEL or --model choose the endpoint. With neither set, a module that exports a "script"
is played by a scripted OpenAI-compatible server on 127.0.0.1, so demos need no API key.

Options:
  --input TEXT       the user's message (default: the module's exported "input", if any)
  --json             print one JSON object per line for every run event instead of progress text
  --model NAME       model name for this run (overrides the agent's and STATECRAFT_MODEL)
  --max-steps N      stop after N model turns (overrides the agent's limit)
  --approve MODE     tool calls that need approval: ask on the terminal (default when interactive),
                     all (approve every call), none (reject every call; default when not interactive)
  --scripted         play the module's script even when an endpoint is configured

Exit codes: 0 done, 1 failed, 2 usage or configuration error, 3 halted (step limit, budget,
deadline), 130 cancelled (Ctrl-C cancels the run and aborts calls in flight).`,
  options: {
    input: { type: 'string' },
    json: { type: 'boolean' },
    model: { type: 'string' },
    'max-steps': { type: 'string' },
    approve: { type: 'string' },
    scripted: { type: 'boolean' },
  },
  async run(values, positionals) {
    const [path] = positionals;
    if (!path) throw new UserError('Missing the agent module. Usage: statecraft run <agent module> [--input TEXT]');
    const module = await loadAgent(path);
    const approveMode = (values.approve as string | undefined) ?? (process.stdin.isTTY ? 'ask' : 'none');
    if (!['ask', 'all', 'none'].includes(approveMode)) {
      throw new UserError(`--approve must be ask, all or none, found "${approveMode}".`);
    }
    const maxSteps = intOption(values, 'max-steps');
    const agent = maxSteps ? Object.freeze({ ...module.agent, limits: { ...module.agent.limits, maxSteps } }) : module.agent;
    const input = (values.input as string | undefined) ?? module.input;
    const json = values.json === true;
    const out = (text: string) => process.stdout.write(text);
    const err = (text: string) => process.stderr.write(text);

    let server: ScriptedServer | undefined;
    let model: ModelPort | string | undefined = values.model as string | undefined;
    if (module.script && (values.scripted === true || !hasEndpoint())) {
      server = await startScriptedServer(module.script);
      model = createOpenAIModel({ baseURL: server.url, apiKey: 'scripted', model: (values.model as string) ?? module.scriptModel ?? 'scripted' });
      if (!json) err(`No OPENAI_API_KEY or OPENAI_BASE_URL: playing the module's scripted model at ${server.url}\n`);
    }
    try {
      const run = startRun(agent, { input, model });
      const progress = json ? (event: RunEvent) => out(`${JSON.stringify(event)}\n`) : createProgress(out, process.stdout.isTTY === true);
      run.on(progress);
      if (!json) err(`run ${run.runId} · agent ${agent.name} · model ${run.model.info.model}\n`);
      run.on((event) => {
        if (event.type !== 'approval.requested') return;
        void decide(approveMode, event.calls, run).catch((error: unknown) => {
          err(`${(error as Error).message}\n`);
          run.cancel('Approval prompt failed.');
        });
      });
      const onSigint = () => run.cancel('Interrupted (SIGINT).');
      process.once('SIGINT', onSigint);
      const result = await run.result;
      process.off('SIGINT', onSigint);
      return exitCodeOf(result.status);
    } finally {
      await server?.close();
    }
  },
};

async function decide(mode: string, calls: { id: string; name: string }[], run: ReturnType<typeof startRun>) {
  for (const call of calls) {
    const args = run.context.messages
      .flatMap((message) => (message.role === 'assistant' ? (message.toolCalls ?? []) : []))
      .find((toolCall) => toolCall.id === call.id)?.arguments;
    if (mode === 'all') run.approve(call.id, 'cli --approve all');
    else if (mode === 'none') run.reject(call.id, 'Not approved: no one was there to approve it (run with --approve all or on a terminal).', 'cli --approve none');
    else {
      const rl = createInterface({ input: process.stdin, output: process.stderr });
      const answer = await rl.question(`Allow ${call.name}(${args ?? ''})? [y/N/reason to reject] `);
      rl.close();
      if (/^y(es)?$/i.test(answer.trim())) run.approve(call.id, 'cli prompt');
      else run.reject(call.id, answer.trim() && !/^n(o)?$/i.test(answer.trim()) ? answer.trim() : 'Rejected by the user.', 'cli prompt');
    }
  }
}
