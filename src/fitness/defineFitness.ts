import { UserError } from '../errors.ts';
import type { AgentContext, FitnessResult } from '../protocol/agent.ts';

/** What a fitness measure receives: the run, a signal that aborts it, and the context as it stands. */
export interface FitnessContext {
  runId: string;
  step: number;
  signal: AbortSignal;
  context: Readonly<AgentContext>;
  /** Tools that ran in the turn just finished. */
  toolsRun: readonly string[];
}

export type Measurement = number | boolean | { value: number | boolean; detail?: string };

/** A named health target the runtime evaluates as the agent works. */
export interface FitnessTarget {
  readonly name: string;
  readonly description: string;
  measure(ctx: FitnessContext): Measurement | Promise<Measurement>;
  /** For numeric measures: the value must stay within these bounds. Booleans must be true. */
  readonly threshold: { min?: number; max?: number };
  /** After which tools it is evaluated (default: after any turn in which a tool ran). */
  readonly after: readonly string[] | 'any-tool';
  /** halt: stop the run (status halted, reason fitness); tell-model: the model is told and goes on; record: only recorded. */
  readonly onBreach: 'halt' | 'tell-model' | 'record';
  readonly timeoutMs: number;
}

export interface FitnessDefinition {
  name: string;
  description?: string;
  measure: FitnessTarget['measure'];
  threshold?: FitnessTarget['threshold'];
  after?: readonly string[] | 'any-tool';
  onBreach?: FitnessTarget['onBreach'];
  timeoutMs?: number;
}

/**
 * Define a fitness function: a named target, how it is measured, its threshold, when it is
 * evaluated and what a breach does. Every evaluation is recorded in the run log.
 * @example
 * const testsPass = defineFitness({
 *   name: 'tests-pass',
 *   after: ['write_file', 'edit_file'],
 *   measure: async () => (await runSandboxed({ command: 'npm test', cwd: root, workspaceRoot: root })).exitCode === 0,
 * });
 */
export function defineFitness(definition: FitnessDefinition): FitnessTarget {
  const label = `Fitness target "${definition.name}"`;
  if (!definition.name || !/^[\w.-]{1,64}$/.test(definition.name)) {
    throw new UserError(`A fitness target needs a name of letters, digits, '_', '-' or '.', found ${JSON.stringify(definition.name)}.`);
  }
  if (typeof definition.measure !== 'function') throw new UserError(`${label}: measure must be a function that returns a number or a boolean.`);
  const onBreach = definition.onBreach ?? 'halt';
  if (!['halt', 'tell-model', 'record'].includes(onBreach)) {
    throw new UserError(`${label}: onBreach must be 'halt', 'tell-model' or 'record', found ${JSON.stringify(onBreach)}.`);
  }
  const { min, max } = definition.threshold ?? {};
  if (min !== undefined && max !== undefined && min > max) throw new UserError(`${label}: threshold.min (${min}) is above threshold.max (${max}).`);
  return Object.freeze({
    name: definition.name,
    description: definition.description ?? '',
    measure: definition.measure,
    threshold: Object.freeze({ ...definition.threshold }),
    after: definition.after ?? 'any-tool',
    onBreach,
    timeoutMs: definition.timeoutMs ?? 120_000,
  });
}

/** Targets due after a turn in which these tools ran. */
export function dueTargets(targets: readonly FitnessTarget[], toolsRun: readonly string[]): FitnessTarget[] {
  if (toolsRun.length === 0) return [];
  return targets.filter((target) => target.after === 'any-tool' || target.after.some((tool) => toolsRun.includes(tool)));
}

/** Measure one target and judge it against its threshold; a measure that throws or times out is a breach. */
export async function evaluateTarget(target: FitnessTarget, ctx: FitnessContext): Promise<FitnessResult> {
  const base = { name: target.name, onBreach: target.onBreach, step: ctx.step };
  let measured: Measurement;
  try {
    const timeout = AbortSignal.timeout(target.timeoutMs);
    const signal = AbortSignal.any([ctx.signal, timeout]);
    measured = await Promise.race([
      Promise.resolve(target.measure({ ...ctx, signal })),
      new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(new Error(timeout.aborted ? `no answer within ${target.timeoutMs} ms` : 'cancelled')), { once: true })),
    ]);
  } catch (error) {
    return { ...base, value: null, ok: false, detail: `the measure failed: ${(error as Error).message}` };
  }
  const { value, detail } = typeof measured === 'object' ? measured : { value: measured, detail: undefined };
  if (typeof value === 'boolean') return { ...base, value, ok: value, detail: detail ?? (value ? 'holds' : 'does not hold') };
  const { min, max } = target.threshold;
  const ok = Number.isFinite(value) && (min === undefined || value >= min) && (max === undefined || value <= max);
  const bounds = [min !== undefined ? `>= ${min}` : '', max !== undefined ? `<= ${max}` : ''].filter(Boolean).join(' and ');
  return { ...base, value, ok, detail: detail ?? `measured ${value}${bounds ? `, expected ${bounds}` : ''}` };
}
