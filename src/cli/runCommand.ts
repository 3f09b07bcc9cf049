import { UserError } from '../errors.ts';
import { startRun, startThreadRun } from '../runtime/startRun.ts';
import { intOption, type CommandValues } from './args.ts';
import { approveMode, chooseModel, drive } from './drive.ts';
import { loadAgent, type AgentModule } from './loadAgent.ts';
import { usePriceFile } from './pricesOption.ts';
import { storeOf, withStore } from './storeOption.ts';

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

export async function runAgent(values: CommandValues, positionals: string[]): Promise<number> {
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
      const options = { input, model, store, labels: { module: module.path } };
      const thread = values.thread as string | undefined;
      const run = thread === undefined ? startRun(agent, options) : await startThreadRun(agent, { ...options, thread });
      driving = true;
      return drive(run, { json, approve, server, ...storeOf(values) });
    }, { create: true });
  } catch (error) {
    if (!driving) await server?.close();
    throw error;
  }
}
