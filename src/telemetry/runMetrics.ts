import type { Counter, Histogram, Meter } from '@opentelemetry/api';

/** Buckets in seconds for model calls, tools and approvals: from 10 ms to an hour. */
const SECONDS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600];
/** Buckets in tokens, as the GenAI conventions advise for `gen_ai.client.token.usage`. */
const TOKENS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864];

/** The instruments a run's telemetry records to, made once per meter. */
export interface RunMetrics {
  /** `gen_ai.client.token.usage`: tokens of each model call, by `gen_ai.token.type` (input, output). */
  tokens: Histogram;
  /** `gen_ai.client.operation.duration`: how long each model call took, retries included (s). */
  modelDuration: Histogram;
  /** `statecraft.tool.duration`: how long each tool call ran (s). */
  toolDuration: Histogram;
  /** `statecraft.approval.wait`: from a call's request to its decision (s). */
  approvalWait: Histogram;
  /** `statecraft.runs`: runs that ended, or were let go waiting, by `statecraft.run.status`. */
  runs: Counter;
  /** `statecraft.steps`: model turns. */
  steps: Counter;
  /** `statecraft.cost`: what model calls cost, in USD, where their price is known. */
  cost: Counter;
}

const made = new WeakMap<Meter, RunMetrics>();

export function runMetrics(meter: Meter): RunMetrics {
  let metrics = made.get(meter);
  if (metrics) return metrics;
  const seconds = (name: string, description: string) => meter.createHistogram(name, { unit: 's', description, advice: { explicitBucketBoundaries: SECONDS } });
  metrics = {
    tokens: meter.createHistogram('gen_ai.client.token.usage', { unit: '{token}', description: 'Number of input and output tokens used.', advice: { explicitBucketBoundaries: TOKENS } }),
    modelDuration: seconds('gen_ai.client.operation.duration', 'GenAI operation duration.'),
    toolDuration: seconds('statecraft.tool.duration', 'How long a tool call ran.'),
    approvalWait: seconds('statecraft.approval.wait', 'How long a tool call waited for a human decision.'),
    runs: meter.createCounter('statecraft.runs', { unit: '{run}', description: 'Runs that ended, or were let go while waiting for approval, by status.' }),
    steps: meter.createCounter('statecraft.steps', { unit: '{step}', description: 'Model turns taken.' }),
    cost: meter.createCounter('statecraft.cost', { unit: 'USD', description: 'Cost of model calls whose price is known.' }),
  };
  made.set(meter, metrics);
  return metrics;
}
