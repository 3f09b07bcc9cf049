import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { UserError } from '../errors.ts';
import type { Agent } from '../runtime/defineAgent.ts';
import type { Script } from '../testing/script.ts';
import { disposeOnExit } from './shutdown.ts';
import { loadTypeScriptSupport } from '../loadTypeScript.ts';

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

/**
 * Import an agent module: its default export or an export named `agent`, plus an optional `script`.
 * Its `dispose` export, if any, is called once when the CLI stops, to close what the module opened.
 */
export async function loadAgent(path: string): Promise<AgentModule> {
  const file = resolve(path);
  if (!existsSync(file)) {
    throw new UserError(`Agent module not found: ${file}. Pass the path of a .ts or .js file that exports an agent.`);
  }
  await loadTypeScriptSupport(file);
  let module: Record<string, unknown>;
  try {
    module = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (error) {
    const code = (error as { code?: string }).code;
    // A .ts file with no package.json of "type": "module" above it is loaded as CommonJS, and its
    // imports then fail with an error about require() that does not say so (or, on a Node.js that
    // cannot require ES modules, before 20.19, with a SyntaxError at its first import or export).
    const message = (error as Error)?.message ?? '';
    const moduleSyntax = error instanceof SyntaxError && /^(Cannot use import statement outside a module|Unexpected token 'export')$/.test(message);
    if (code === 'ERR_REQUIRE_CYCLE_MODULE' || code === 'ERR_REQUIRE_ESM' || moduleSyntax) {
      throw new UserError(
        `Could not load the agent module ${file}: Node loaded it as CommonJS, because no package.json with "type": "module" is in its folder or above. ` +
          `Name it with .mts, or add a package.json containing {"type": "module"} beside it.`,
        { cause: error },
      );
    }
    // Whatever else stops the import (the module throws, a syntax error, a folder or a file that is not
    // code) is the module's to fix: its message is kept, and the stack stays on the cause.
    throw new UserError(`Could not load agent module ${file}: ${(error as Error)?.message ?? String(error)}`, { cause: error });
  }
  if (module.dispose !== undefined) {
    if (typeof module.dispose !== 'function') {
      throw new UserError(`${path} exports "dispose" that is not a function: export async function dispose() { ... } to close what the module opened.`);
    }
    disposeOnExit(file, module.dispose as () => unknown);
  }
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
