import { UserError } from '../../errors.ts';
import type { Compaction, CompactionOptions, CompactionStrategy } from './strategy.ts';

const KEYS = ['at', 'target', 'strategy', 'pin'];
const EXAMPLE = 'compaction: { at: 0.8, target: 0.5, strategy: [elideToolOutputs(), summarize()] }';

const isStrategy = (value: unknown): value is CompactionStrategy =>
  typeof value === 'object' && value !== null && typeof (value as CompactionStrategy).name === 'string' && (value as CompactionStrategy).name !== '' && typeof (value as CompactionStrategy).compact === 'function';

/** An agent's `compaction` setting checked and with its defaults, or undefined when it has none. */
export function compactionOf(agent: string, options: CompactionOptions | undefined): Compaction | undefined {
  if (options === undefined) return undefined;
  const fail = (what: string): never => {
    throw new UserError(`Agent "${agent}": compaction${what}. Write e.g. ${EXAMPLE}.`);
  };
  if (typeof options !== 'object' || options === null || Array.isArray(options)) fail(` must be an object, found ${JSON.stringify(options)}`);
  const unknown = Object.keys(options).find((key) => !KEYS.includes(key));
  if (unknown !== undefined) fail(` has no setting "${unknown}" (known: ${KEYS.join(', ')})`);
  const share = (field: 'at' | 'target', fallback: number) => {
    const value = options[field] ?? fallback;
    if (typeof value !== 'number' || !(value > 0 && value <= 1)) fail(`.${field} must be a share of the context window above 0 and at most 1, found ${String(options[field])}`);
    return value;
  };
  const at = share('at', 0.8);
  const target = share('target', at > 0.5 ? 0.5 : at / 2);
  if (target >= at) fail(`.target (${target}) must be below .at (${at}): compaction brings the input from above at to under target`);
  const strategies = Array.isArray(options.strategy) ? [...(options.strategy as CompactionStrategy[])] : [options.strategy as CompactionStrategy];
  if (options.strategy === undefined) fail(' needs a strategy: summarize(), elideToolOutputs(), a list of them, or your own { name, compact }');
  if (!strategies.length) fail('.strategy is an empty list: name at least one strategy');
  const bad = strategies.findIndex((strategy) => !isStrategy(strategy));
  if (bad >= 0) fail(`.strategy${Array.isArray(options.strategy) ? `[${bad}]` : ''} is not a strategy (an object with a name and a compact function), found ${JSON.stringify(strategies[bad])?.slice(0, 80)}`);
  if (options.pin !== undefined && typeof options.pin !== 'function') fail(`.pin must be a function (message, index) => boolean, found ${JSON.stringify(options.pin)}`);
  return Object.freeze({ at, target, strategies: Object.freeze(strategies), pin: options.pin });
}
