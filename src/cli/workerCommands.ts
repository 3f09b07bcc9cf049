import { readFileSync } from 'node:fs';
import { UserError } from '../errors.ts';
import type { ModelLimitsOptions } from '../rateLimits/modelLimitsConfig.ts';
import type { WorkerEvent } from '../worker/workerOptions.ts';
import type { CommandValues } from './args.ts';
import { loadAgent } from './loadAgent.ts';
import { onInterrupt } from './shutdown.ts';

const UNITS = { ms: 1, s: 1_000, m: 60_000 } as const;

/** A duration option: milliseconds, or a number with ms, s or m. */
function durationOption(values: CommandValues, name: string): number | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(String(raw).trim());
  if (!match) throw new UserError(`--${name} takes a duration: a number of milliseconds, or with a unit (500ms, 10s, 2m); found "${String(raw)}".`);
  return Number(match[1]) * UNITS[(match[2] ?? 'ms') as keyof typeof UNITS];
}

const wholeOption = (values: CommandValues, name: string): number | undefined => {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (!(Number.isInteger(value) && value >= 1)) throw new UserError(`--${name} must be a whole number, 1 or more, found "${String(raw)}".`);
  return value;
};

/** The shared model rate limits of --model-limits FILE, --model-rpm, --model-tpm and --model-wait; undefined when none is given. */
function modelLimitsOption(values: CommandValues): ModelLimitsOptions | undefined {
  const file = values['model-limits'] as string | undefined;
  let limits: ModelLimitsOptions = {};
  if (file !== undefined) {
    try {
      limits = JSON.parse(readFileSync(file, 'utf8')) as ModelLimitsOptions;
    } catch (error) {
      throw new UserError(`--model-limits ${file}: expected a JSON file such as {"requestsPerMinute": 500, "endpoints": {"gpt-4o": {"tokensPerMinute": 30000}}}; ${(error as Error).message}`);
    }
    if (typeof limits !== 'object' || limits === null || Array.isArray(limits)) throw new UserError(`--model-limits ${file}: expected a JSON object of limits, found ${JSON.stringify(limits)}.`);
  }
  const rpm = wholeOption(values, 'model-rpm');
  const tpm = wholeOption(values, 'model-tpm');
  const wait = durationOption(values, 'model-wait');
  if (file === undefined && rpm === undefined && tpm === undefined) {
    if (wait !== undefined) throw new UserError('--model-wait caps the wait for model rate limits: give the limits too (--model-rpm, --model-tpm or --model-limits).');
    return undefined;
  }
  return { ...limits, ...(rpm === undefined ? {} : { requestsPerMinute: rpm }), ...(tpm === undefined ? {} : { tokensPerMinute: tpm }), ...(wait === undefined ? {} : { maxWaitMs: wait }) };
}

/** `--agent-limit support=20,billing@2=5`: names to whole numbers; undefined when not given. */
function limitsOption(values: CommandValues, name: 'agent-limit' | 'tenant-limit'): Record<string, number> | undefined {
  const raw = values[name] as string | undefined;
  if (raw === undefined) return undefined;
  const limits: Record<string, number> = {};
  for (const part of raw.split(',').map((item) => item.trim()).filter(Boolean)) {
    const match = /^(.+?)=(\d+)$/.exec(part);
    if (!match || Number(match[2]) < 1) throw new UserError(`--${name} takes NAME=N pairs, N a whole number of runs, 1 or more, comma-separated (${name === 'agent-limit' ? 'support=20,billing@2=5' : 'acme=50,*=5'}); found "${part}".`);
    limits[match[1]!.trim()] = Number(match[2]);
  }
  return limits;
}

/** The store the workers share: --store, else STATECRAFT_STORE; refused before any module loads unless it is PostgreSQL. */
async function sharedStore(values: CommandValues, command: 'worker' | 'submit'): Promise<string> {
  const { postgresStoreFor } = await import('../worker/runQueue.ts');
  const given = (values.store as string | undefined) ?? process.env.STATECRAFT_STORE;
  // Checked here for the message only; the store itself is opened by the worker or submitRun.
  await postgresStoreFor(given, command).close();
  return given!;
}

const line = (event: WorkerEvent): string | undefined => {
  switch (event.type) {
    case 'worker.started':
      return `worker ${event.workerId} started; queues: ${event.queues.join(', ')}`;
    case 'run.taken':
      return `${event.resumed ? 'continued' : 'started'} run ${event.runId} (lease epoch ${event.epoch})`;
    case 'run.ended':
      return `run ${event.runId} ${event.status}`;
    case 'run.deferred':
      return undefined;
    case 'run.released':
      return `released run ${event.runId} for another worker`;
    case 'lease.lost':
      return `lost run ${event.runId}: ${event.detail}`;
    case 'append.refused':
      return `an append to run ${event.runId} under lost lease epoch ${event.epoch} was refused`;
    case 'run.error':
      return `run ${event.runId} stopped here: ${event.detail}`;
    case 'worker.error':
      return `worker: ${event.detail}`;
    case 'worker.draining':
      return `draining: ${event.inFlight} run(s) in flight`;
    case 'worker.stopped':
      return 'worker stopped';
    case 'model.waiting':
      return `a model call waits ${Math.ceil(event.delayMs / 1000)} s for ${event.endpoint} (${event.reason === 'blocked' ? 'the endpoint asked to wait: 429' : event.reason})`;
  }
};

export async function work(values: CommandValues, positionals: string[]): Promise<number> {
  const modules = [...((values.agents as string | undefined)?.split(',') ?? []), ...positionals].map((path) => path.trim()).filter(Boolean);
  if (modules.length === 0) throw new UserError('Name the agent modules this worker runs: statecraft worker --agents ./agent.ts --store postgres://…');
  const store = await sharedStore(values, 'worker');
  const concurrency = values.concurrency === undefined ? undefined : Number(values.concurrency);
  if (concurrency !== undefined && !(Number.isInteger(concurrency) && concurrency >= 1)) {
    throw new UserError(`--concurrency must be a whole number of runs, 1 or more, found "${String(values.concurrency)}".`);
  }
  const modelLimits = modelLimitsOption(values);
  const agentLimits = limitsOption(values, 'agent-limit');
  const tenantLimits = limitsOption(values, 'tenant-limit');
  const agents = [];
  for (const path of modules) agents.push((await loadAgent(path)).agent);
  const { startWorker } = await import('../worker/startWorker.ts');
  const json = values.json === true;
  const worker = await startWorker({
    store,
    agents,
    ...(concurrency === undefined ? {} : { concurrency }),
    ...(values.lease === undefined ? {} : { leaseMs: durationOption(values, 'lease') }),
    ...(values.grace === undefined ? {} : { graceMs: durationOption(values, 'grace') }),
    ...(values.poll === undefined ? {} : { pollMs: durationOption(values, 'poll') }),
    ...(modelLimits ? { modelLimits } : {}),
    ...(agentLimits || tenantLimits ? { limits: { ...(agentLimits ? { agents: agentLimits } : {}), ...(tenantLimits ? { tenants: tenantLimits } : {}) } } : {}),
    onEvent: (event) => {
      const text = json ? JSON.stringify(event) : line(event);
      if (text) process.stdout.write(`${text}\n`);
    },
  });
  const stopHandling = onInterrupt(() => void worker.stop());
  await worker.closed;
  stopHandling();
  return 0;
}

export async function submit(values: CommandValues, [path]: string[]): Promise<number> {
  if (!path) throw new UserError('Missing the agent module. Usage: statecraft submit <agent module> --input TEXT --store postgres://…');
  const store = await sharedStore(values, 'submit');
  const priority = values.priority === undefined ? 0 : Number(values.priority);
  if (!Number.isInteger(priority)) throw new UserError(`--priority must be a whole number (higher runs first), found "${String(values.priority)}".`);
  const module = await loadAgent(path);
  const input = (values.input as string | undefined) ?? module.input;
  if (input === undefined) throw new UserError(`No input for the run: pass the user's message with --input TEXT, or export \`input\` (a string) from ${module.path}.`);
  const { submitRun } = await import('../worker/submitRun.ts');
  const submitted = await submitRun(module.agent, input, {
    store,
    priority,
    ...(values.tenant ? { tenant: values.tenant as string } : {}),
    agentModule: module.path,
    labels: { module: module.path },
    ...(values['run-id'] ? { runId: values['run-id'] as string } : {}),
  });
  if (values.json) process.stdout.write(`${JSON.stringify(submitted)}\n`);
  else process.stdout.write(`${submitted.runId}\nqueued for ${submitted.queue}: a worker started with this agent's module runs it (statecraft worker --agents ${path} --store …)\n`);
  return 0;
}
