import type { Command } from '../args.ts';
import { pricesHelp, pricesOptions } from '../pricesOption.ts';
import { storeHelp, storeOptions, approveHelp, exitHelp } from './commonOptions.ts';

export const runCommand: Command = {
  name: 'run',
  summary: 'run an agent defined in a file, recording every step',
  usage: 'statecraft run <agent module> [--input TEXT] [--thread ID] [--json] [--model NAME] [--max-steps N] [--approve MODE] [--scripted] [--store URL]',
  help: `Runs the agent exported by a TypeScript or JavaScript module (default export, or an export named
"agent") and records every step in the run log, so the run can be resumed, inspected, forked and replayed.

Model: OPENAI_API_KEY / OPENAI_BASE_URL (any OpenAI-compatible server: OpenAI, Ollama, vLLM) and
STATECRAFT_MODEL or --model choose the endpoint. With neither set, a module that exports a "script"
is played by a scripted OpenAI-compatible server on 127.0.0.1, so demos need no API key.

Options:
  --input TEXT       the user's message (default: the module's exported "input"). One of the two is
                     required; --input '' runs an agent that has instructions on them alone, with no
                     user message
  --thread ID        run as the next run of conversation thread ID: it starts from the messages the
                     thread's last run ended with (a new ID starts a thread); see statecraft threads
  --json             print every run event as JSON Lines (one JSON object per line, as it happens)
                     instead of progress text (tool.end carries a failed call's error; tool.decided
                     each decision)
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
    thread: { type: 'string' },
    json: { type: 'boolean' },
    model: { type: 'string' },
    'max-steps': { type: 'string' },
    approve: { type: 'string' },
    scripted: { type: 'boolean' },
    ...pricesOptions,
    ...storeOptions,
  },
  load: async () => (await import('../runCommand.ts')).runAgent,
};
