import { existsSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { UserError } from '../errors.ts';
import type { RunStore } from '../log/stores/runStore.ts';
import { loadAgent, type AgentModule } from './loadAgent.ts';

/** How a refusal tells the user to go on: the command they ran (to repeat with --agent) and its store. */
export interface Retry {
  /** The command line as typed, `npx statecraft` first. */
  command: string[];
  store?: string;
}

/** Where a run's code may come from, as the user named it on the command line. */
export interface AgentChoice {
  /** The module --agent names: loaded for the run, whatever the run records. */
  agent?: string;
  /** Modules already loaded (the inspector's --agent): the one whose agent recorded the run is used. */
  agents?: readonly AgentModule[];
  retry: Retry;
}

/** A run's code is not loaded: no module is named, and this store recorded none it may load. */
export class UntrustedModuleError extends UserError {
  constructor(
    message: string,
    readonly runId: string,
  ) {
    super(message);
  }
}

/**
 * The agent module to run a recorded run's code from: the one named on the command line, else the one
 * this store recorded for the run (started here by `statecraft run` or `startRun` with `labels.module`,
 * forked from such a run, or named by `statecraft trust`). The module a run's log names is never
 * loaded on its word: an exported log is anyone's to write.
 */
export async function agentForRun(store: RunStore, runId: string, choice: AgentChoice): Promise<AgentModule> {
  if (choice.agent !== undefined) return loadAgent(choice.agent);
  let unmatched = '';
  if (choice.agents?.length) {
    const { agent } = await store.header(runId);
    const named = choice.agents.find((module) => module.agent.name === agent.id);
    if (named) return named;
    unmatched = ` The modules named with --agent define ${choice.agents.map((module) => `"${module.agent.name}"`).join(', ')}, not the run's agent "${agent.id}".`;
  }
  return loadAgent(await storedModule(store, runId, choice.retry, unmatched));
}

/** The module this store recorded for the run, as an absolute path; refused, with the commands that name one, when there is none. */
async function storedModule(store: RunStore, runId: string, retry: Retry, unmatched: string): Promise<string> {
  const { agentModule } = await store.summary(runId);
  if (agentModule !== undefined && isAbsolute(agentModule)) return agentModule;
  const logged = (await store.header(runId)).labels?.module;
  // Offered in a command only when it is a file here that a shell word can name plainly; any other is shown, escaped.
  const offered = logged !== undefined && isAbsolute(logged) && existsSync(logged) && shellWord(logged) !== undefined ? logged : undefined;
  const suggested = agentModule ?? offered;
  const module = (suggested === undefined ? undefined : shellWord(suggested)) ?? '<module>';
  const again = `${commandLine(retry.command)} --agent ${module}`;
  const trust = `${commandLine(['npx', 'statecraft', 'trust', runId, ...(retry.store === undefined ? [] : ['--store', retry.store])])} --agent ${module}`;
  const why =
    agentModule !== undefined
      ? `Run ${runId} was started in this store with the relative module path ${shown(agentModule)}, which names another file in each folder, so it is not loaded.`
      : `Run ${runId} was not started in this store (it was imported, forked from an imported run, or recorded by an older Statecraft), ` +
        `so no code is loaded from ${logged === undefined ? 'a module its log names: it names none' : `the module its log names: ${shown(logged)}${noteOn(logged, offered)}`}.`;
  throw new UntrustedModuleError(
    `${why}${unmatched} Code runs only from a module you name. Once you have read the agent's module and want it run, name it on the command line:\n` +
      `  ${again}\nor for this run from now on (its later commands, its forks and the inspector's Approve):\n  ${trust}`,
    runId,
  );
}

/** Why the module a log names is not offered in a command to copy. */
const noteOn = (logged: string, offered: string | undefined) =>
  offered !== undefined ? '' : !isAbsolute(logged) ? ' (a relative path)' : !existsSync(logged) ? ' (no such file here)' : '';

const PLAIN = /^[\w@%+=:,./-]+$/;
// Control characters and bidirectional overrides can make a path display as something else.
const DECEPTIVE = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]/;

/** A path as a message shows it: as it is, or JSON-escaped when it holds characters a terminal would hide or act on. */
const shown = (path: string) => (DECEPTIVE.test(path) ? JSON.stringify(path) : path);

/** A word a POSIX shell reads back as itself: plain, or single-quoted; undefined for one that cannot be shown safely. */
function shellWord(word: string): string | undefined {
  if (DECEPTIVE.test(word)) return undefined;
  return PLAIN.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/** A command line to copy: each word quoted for a shell, a password in a store URL masked (as the store's own errors do). */
function commandLine(words: string[]): string {
  return words.map((word) => word.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@')).map((word) => shellWord(word) ?? shown(word)).join(' ');
}

/** How a refusal in this process tells the user to go on: the command line it was started with, and its --store. */
export const retryHere = (values: Record<string, unknown>): Retry => ({
  command: ['npx', 'statecraft', ...process.argv.slice(2)],
  ...(typeof values.store === 'string' ? { store: values.store } : {}),
});
