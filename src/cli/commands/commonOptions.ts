import { pricesHelp, pricesOptions } from '../pricesOption.ts';
// Options and help text shared by several commands: plain data, so that `--help` loads no command's code.

export const storeHelp = `  --store URL        where runs are recorded: a SQLite file (default .statecraft/runs.db, or
                     STATECRAFT_STORE), sqlite:<path>, postgres://… (?schema=name), or memory:`;

export const storeOptions = { store: { type: 'string' } } as const;

export const approveHelp = `  --approve MODE     tool calls that need approval: ask on the terminal (default when interactive;
                     answers may be piped, one per line, and when they run out the run waits),
                     wait (default otherwise: once no agent of the run is still working, record it as
                     waiting and exit 4; decide later with statecraft approve / reject), all (approve
                     every call), none (reject every call)`;

export const exitHelp = `Exit codes: 0 done, 1 failed, 2 usage or configuration error, 3 halted (step limit, budget,
deadline), 4 waiting for approval, 130 cancelled by Ctrl-C (SIGINT), 143 cancelled by SIGTERM.

Ctrl-C or SIGTERM cancels the run (aborting the calls in flight) and records it cancelled; a second
one exits at once. The CLI exits once the run ends, waits or is cancelled, whatever the agent module
opened: it calls the module's exported dispose() once (waiting at most 5 s), and ends the MCP servers
and sandboxed commands the runtime started, and what they started (SIGTERM, then SIGKILL).`;

/** Help for the --agent option of the commands that load a run's code. */
export const agentOptionHelp = `  --agent MODULE     the agent's module (default: the one this store recorded when the run was
                     started here, or named with statecraft trust; an imported run has none, and
                     its log's module is never loaded: name one here or with statecraft trust)`;

export const agentHelp = `${agentOptionHelp}
  --take-over        continue the run even though another process still claims it (it is running
                     and was heard from within 30 s): for a process that is gone or frozen
  --model NAME       model name for the rest of the run (as statecraft run --model)
  --scripted         play the module's script even when an endpoint is configured`;

/** --approve for the calls a run waits on after a decision: it defaults to wait, even on a terminal. */
export const laterApproveHelp = approveHelp.replace(/default when interactive;\s+answers /, 'answers\n                     ').replace('wait (default otherwise:', 'wait (default:');

/** The options of the commands that resume a run (resume, approve, reject). */
/** The help of the options resume, approve and reject share (resumeOptions), then the exit codes. */
export const resumeOptionsHelp = `${agentHelp}
  --json             print every run event as JSON Lines (one JSON object per line, as it happens)
                     instead of progress text
${pricesHelp}
${storeHelp}

${exitHelp}`;
export const resumeOptions = { json: { type: 'boolean' }, agent: { type: 'string' }, model: { type: 'string' }, scripted: { type: 'boolean' }, 'take-over': { type: 'boolean' }, ...pricesOptions, ...storeOptions } as const;

export const RUN_STATUSES = ['created', 'queued', 'running', 'waiting', 'done', 'failed', 'halted', 'cancelled'] as const;
