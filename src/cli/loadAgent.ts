import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { UserError } from '../errors.ts';
import type { Agent } from '../runtime/defineAgent.ts';
import type { Script } from '../testing/script.ts';

export interface AgentModule {
  agent: Agent;
  /** A scripted model to play when no real endpoint is configured (demos and examples). */
  script?: Script;
  /** Model name the script plays (so demos can be priced); defaults to 'scripted'. */
  scriptModel?: string;
  /** Default user message for the run. */
  input?: string;
  path: string;
}

const isAgent = (value: unknown): value is Agent =>
  typeof value === 'object' && value !== null && 'toolbox' in value && 'machine' in value && 'name' in value;

/** Import an agent module: its default export or an export named `agent`, plus an optional `script`. */
export async function loadAgent(path: string): Promise<AgentModule> {
  const file = resolve(path);
  if (!existsSync(file)) {
    throw new UserError(`Agent module not found: ${file}. Pass the path of a .ts or .js file that exports an agent.`);
  }
  const module = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  const agent = [module.default, module.agent].find(isAgent);
  if (!agent) {
    throw new UserError(
      `${path} exports no agent. Export one made with defineAgent(), as the default export or as "agent". ` +
        `Found exports: ${Object.keys(module).join(', ') || 'none'}.`,
    );
  }
  return {
    agent,
    script: module.script as Script | undefined,
    scriptModel: typeof module.scriptModel === 'string' ? module.scriptModel : undefined,
    input: typeof module.input === 'string' ? module.input : undefined,
    path: file,
  };
}
