import { createHash } from 'node:crypto';
import type { AnyStateMachine } from 'xstate';

const hashes = new WeakMap<AnyStateMachine, string>();

/** A short hash of a machine's definition, functions included by their source text. */
export function machineHash(machine: AnyStateMachine): string {
  let hash = hashes.get(machine);
  if (!hash) {
    const text = JSON.stringify(machine.config, (_key, value: unknown) => (typeof value === 'function' ? `fn:${value.toString()}` : value));
    hash = createHash('sha256').update(text).digest('hex').slice(0, 16);
    hashes.set(machine, hash);
  }
  return hash;
}
