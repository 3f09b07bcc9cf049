import { UserError } from '../errors.ts';
import { startRun } from '../runtime/startRun.ts';
import { intOption, type Command } from './args.ts';
import { approveHelp, approveMode, chooseModel, drive, exitHelp } from './drive.ts';
import { loadAgent, type AgentModule } from './loadAgent.ts';
import { pricesHelp, pricesOptions, usePriceFile } from './pricesOption.ts';
import { storeHelp, storeOptions, withStore } from './storeOption.ts';

/**
 * The run's user message: --input, else the module's `input`. Neither is refused, as a run the model
 * would start with nothing to answer; an empty one sends no user message, for an agent whose
 * instructions hold the whole task.
 */
function userMessage(module: AgentModule, given: string | undefined): string | undefined {
  const input = given ?? module.input;
  if (input === undefined) {
    throw new UserError(
      `No input for the run: pass the user's message with --input TEXT, or export \`input\` (a string) from ${module.path}. ` +
        `To run the agent on its instructions alone, pass --input ''.`,
    );
  }
  if (input !== '') return input;
  if (!module.agent.instructions) {
    throw new UserError(`Agent "${module.agent.name}" has no instructions and the input is empty: the model would be sent nothing. Pass --input TEXT.`);
  }
  return undefined;
}

export const runCommand: Command = {
  name: 'run',
  summary: 'run an agent defined in a file, recording every step',
  usage: 'statecraft run <agent module> [--input TEXT] [--json] [--model NAME] [--max-steps N] [--approve MODE] [--scripted] [--store URL]',
  help: `Runs the agent exported by a TypeScript or JavaScript module (default export, or an export named
"agent") and records every step in the run log, so the run can be resumed, inspected, forked and replayed.

Model: OPENAI_API_KEY / OPENAI_BASE_URL (any OpenAI-compatible server: OpenAI, Ollama, vLLM) and
STATECRAFT_MODEL or --model choose the endpoint. With neither set, a module that exports a "script"
is played by a scripted OpenAI-compatible server on 127.0.0.1, so demos need no API key.

Options:
  --input TEXT       the user's message (default: the module's exported "input"). One of the two is
                     required; --input '' runs an agent that has instructions on them alone, with no
                     user message
  --json             print one JSON object per line for every run event instead of progress text
                     (tool.end carries a failed call's error; tool.decided each decision)
  --model NAME       model name for this run (overrides the agent's and STATECRAFT_MODEL, which
                     the agent module then sees set to NAME)
  --max-steps N      stop after N model turns (overrides the agent's limit)
${approveHelp}
  --scripted         play the module's script even when an endpoint is configured
${pricesHelp}
${storeHelp}

Progress shows each state, the streamed text, each tool call's start and end (a failed one with its
error), and every decision on a call: allowed by a policy, approved or rejected (by whom, and why).

${exitHelp}`,
  options: {
    input: { type: 'string' },
    json: { type: 'boolean' },
    model: { type: 'string' },
    'max-steps': { type: 'string' },
    approve: { type: 'string' },
    scripted: { type: 'boolean' },
    ...pricesOptions,
    ...storeOptions,
  },
  async run(values, positionals) {
    const [path] = positionals;
    if (!path) throw new UserError('Missing the agent module. Usage: statecraft run <agent module> [--input TEXT]');
    // Set before the module loads, so that code in it that reads the model's name (to price it, say)
    // sees the one this run will call.
    if (typeof values.model === 'string' && values.model !== '') process.env['STATECRAFT_MODEL'] = values.model;
    await usePriceFile(values);
    const module = await loadAgent(path);
    const input = userMessage(module, values.input as string | undefined);
    const approve = approveMode(values.approve);
    const maxSteps = intOption(values, 'max-steps');
    const agent = maxSteps ? Object.freeze({ ...module.agent, limits: { ...module.agent.limits, maxSteps } }) : module.agent;
    const json = values.json === true;
    const { model, server } = await chooseModel(module, { model: values.model as string | undefined, scripted: values.scripted === true, quiet: json });
    // From here the scripted server is drive's to close; a failure before it (the store cannot be
    // opened, the agent is refused at start) closes it here, or it would keep the process alive.
    let driving = false;
    try {
      return await withStore(values, async (store) => {
        const run = startRun(agent, {
          input,
          model,
          store,
          labels: { module: module.path },
        });
        driving = true;
        return drive(run, { json, approve, server });
      }, { create: true });
    } catch (error) {
      if (!driving) await server?.close();
      throw error;
    }
  },
};
