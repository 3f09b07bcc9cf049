import type { Command } from '../args.ts';
import { storeHelp, storeOptions } from './commonOptions.ts';

export const inspectCommand: Command = {
  name: 'inspect',
  summary: 'open the local inspector: runs, statechart, time travel, approvals, forks',
  usage: 'statecraft inspect [run] [--port N] [--host ADDRESS] [--agent MODULE ...] [--store URL]',
  help: `Serves the inspector on http://127.0.0.1:<port>/ (loopback by default; nothing is loaded from the internet).
It lists runs, draws the agent's statechart with the current state, scrubs through every record,
follows live runs, and approves, rejects or forks from the step on screen. Approving a run that no
process is running resumes it here, with its agent's code: from a module named with --agent, else
from the one this store recorded when the run was started here (or named with statecraft trust).
The module an imported run's log names is never loaded: its Approve says how to name one.

Cancel stops a run wherever it runs: one that another process runs (statecraft run in another
terminal, a worker) is asked through the store's live channel and records the cancel itself; one no
process holds is resumed here and cancelled. A fork not started yet is shown so, and Start runs it
here with the model chosen on the page. Text a model streams reaches the page from any process
using this store.

On loopback the inspector trusts this machine: any program on it may read runs and act as the page
does, while requests from other web sites are refused. On any other address (--host 0.0.0.0, a LAN
address) every request for data or action needs a token: the printed link carries it in its
#fragment, and anyone who has it can read every run and approve, reject or fork. The inspector speaks plain HTTP: off loopback, prefer an SSH tunnel
(ssh -L 4777:127.0.0.1:4777 host) or a network you trust.

Ctrl-C (or SIGTERM) stops the inspector: a run it resumed and is still running is cancelled, then
it exits 0 (a second Ctrl-C exits at once).

Options:
  --port N           port to listen on (default 4777; 0 picks a free one)
  --host ADDRESS     address to listen on (default 127.0.0.1); not loopback, a token is required
  --token TOKEN      the token, at least 16 characters from A-Z a-z 0-9 . _ ~ - (default: a new
                     one each start, or STATECRAFT_INSPECTOR_TOKEN, which keeps it out of the
                     process list); given, it is required on loopback too
  --agent MODULE     an agent module to resume runs of its agent with (repeat for several agents);
                     it is loaded when the inspector starts
${storeHelp}`,
  options: { port: { type: 'string' }, host: { type: 'string' }, token: { type: 'string' }, agent: { type: 'string', multiple: true }, ...storeOptions },
  load: async () => (await import('../inspectCommand.ts')).inspect,
};
