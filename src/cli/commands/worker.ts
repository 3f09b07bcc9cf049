import type { Command } from '../args.ts';

const workerStoreHelp = `  --store URL        the PostgreSQL store the workers share: postgres://user@host:5432/db
                     (?schema=name), or STATECRAFT_STORE. SQLite cannot be shared by workers:
                     on SQLite, run an agent in one process with statecraft run`;

export const workerCommand: Command = {
  name: 'worker',
  summary: 'take queued runs from a PostgreSQL store and run them, many at once (see submit)',
  usage: 'statecraft worker --agents MODULES [module ...] --store URL',
  help: `Runs the runs submitted to the store's queue (statecraft submit, submitRun in code) for the agents
of the given modules, matched by agent name and version: a worker loads only the modules it is started
with, never code a queued run names. Runs of other agents or versions stay queued for a worker that has
them. Start as many workers as you like, on as many machines, against one PostgreSQL.

Each run is held by a lease that the worker renews every third of --lease, timed by the database's
clock. A worker that dies (or freezes) loses its runs when its leases expire, and another worker
continues each from its last record. A worker that lost a run cannot write to it again: the store
refuses its appends. A tool that may not run twice never does: one found started and not finished
follows its onResume (run again with the same idempotency key, wait for a human, or fail the run).

Model rate limits are shared by the workers given them: --model-rpm and --model-tpm limit the requests
and tokens per minute of each model endpoint (model and base URL), counted in the store by every worker
started with them; a model call over a limit waits for the next minute. A 429 that any worker gets
(with its Retry-After) makes every worker wait before calling that endpoint again. --model-limits
names a JSON file with limits per endpoint: {"requestsPerMinute": 500, "endpoints": {"gpt-4o":
{"tokensPerMinute": 30000}}}.

A run that waits for approval is let go (status waiting) and holds no worker; decide with statecraft
approve / reject as usual.

Runs are taken by priority (statecraft submit --priority), highest first, and within a priority the
oldest first; a run let go and queued again keeps its place. --agent-limit and --tenant-limit cap the
runs leased at once across all the workers of the store, counted in the database when a run is taken:
a run over a limit stays queued (holding no worker) and is tried again a second later. Give every
worker the same limits. statecraft queue shows the queues' depth.

SIGTERM or Ctrl-C drains the worker: it takes no more runs, lets its runs reach their next model
request within --grace, then releases them for another worker to continue at once, and exits 0. A
second signal exits at once (its runs are continued elsewhere once their leases expire).

Options:
  --agents MODULES   the agent modules to run, comma-separated (more may follow as arguments)
  --concurrency N    runs in flight at once in this worker (default 10)
  --lease TIME       how long a lease lasts unrenewed (default 30s): 500ms, 10s, 2m
  --grace TIME       how long a draining worker waits for its runs (default 10s)
  --poll TIME        how often the queue is asked for runs while there is room (default 500ms)
  --model-rpm N      model requests per minute per endpoint, shared by the workers
  --model-tpm N      model tokens per minute per endpoint, shared by the workers
  --model-limits FILE  limits per endpoint, as JSON (see above); --model-rpm/--model-tpm override
                     its top-level limits
  --model-wait TIME  the longest a model call waits for those limits (default 5m), then it fails
  --agent-limit LIST  at most N runs of an agent leased at once by all workers: support=20 (all
                     versions) or support@1=20, comma-separated
  --tenant-limit LIST  at most N runs of a tenant (the run's statecraft.tenant label) leased at once
                     by all workers: acme=50, and *=5 for each tenant not named; comma-separated
  --json             print the worker's events as JSON Lines (run.taken, run.ended, run.released,
                     lease.lost, run.error, worker.error...)
${workerStoreHelp}`,
  options: {
    agents: { type: 'string' },
    concurrency: { type: 'string' },
    lease: { type: 'string' },
    grace: { type: 'string' },
    poll: { type: 'string' },
    'model-rpm': { type: 'string' },
    'model-tpm': { type: 'string' },
    'model-limits': { type: 'string' },
    'model-wait': { type: 'string' },
    'agent-limit': { type: 'string' },
    'tenant-limit': { type: 'string' },
    json: { type: 'boolean' },
    store: { type: 'string' },
  },
  load: async () => (await import('../workerCommands.ts')).work,
};

export const submitCommand: Command = {
  name: 'submit',
  summary: 'queue a run of an agent for the workers of a PostgreSQL store',
  usage: 'statecraft submit <agent module> [--input TEXT] --store URL',
  help: `Creates a run of the module's agent in the store, status queued, with its input, and queues it for
the workers (statecraft worker) started with a module of the same agent name and version. Prints the
run's id. Follow it with statecraft runs, history and show as any run.

Options:
  --input TEXT       the user's message (default: the module's exported "input")
  --priority N       higher runs first (default 0; may be negative); the oldest first within one
  --tenant ID        the tenant the run belongs to (its statecraft.tenant label), for --tenant-limit
  --run-id ID        the run's id (default: a new UUID)
  --json             print {"runId", "queue"} as JSON
${workerStoreHelp}`,
  options: {
    input: { type: 'string' },
    priority: { type: 'string' },
    tenant: { type: 'string' },
    'run-id': { type: 'string' },
    json: { type: 'boolean' },
    store: { type: 'string' },
  },
  load: async () => (await import('../workerCommands.ts')).submit,
};

export const queueCommand: Command = {
  name: 'queue',
  summary: "show the depth of the workers' queues of a PostgreSQL store: queued, running, waiting",
  usage: 'statecraft queue --store URL [--json]',
  help: `Shows each queue of the workers (one per agent name and version): the runs queued for a worker
(and how many at each priority: workers take the highest first, and within a priority the oldest
first), the runs running (held by a worker's lease), the runs waiting for a decision or a timer (they
hold no worker), and how long ago the oldest queued run was queued.

Options:
  --json             print one JSON document: an array with, per queue, queue, agent, version, queued,
                     byPriority [{priority, queued}], running, waiting, oldestQueuedMs and tickets
                     {ready, scheduled, taken} (the queue's pg-boss jobs)
${workerStoreHelp}`,
  options: { json: { type: 'boolean' }, store: { type: 'string' } },
  load: async () => (await import('../queueCommand.ts')).showQueue,
};
