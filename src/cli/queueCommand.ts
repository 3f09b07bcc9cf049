import { UserError } from '../errors.ts';
import type { QueueDepth } from '../worker/queueDepth.ts';
import type { CommandValues } from './args.ts';
import { thousands } from './thousands.ts';

/** An age as people read it: 45 s, 3 min 12 s, 2 h 5 min, 3 d 4 h. */
export function ageText(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3_600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  if (s < 86_400) return `${Math.floor(s / 3_600)} h ${Math.floor((s % 3_600) / 60)} min`;
  return `${thousands(Math.floor(s / 86_400))} d ${Math.floor((s % 86_400) / 3_600)} h`;
}

const priorities = (depth: QueueDepth) => depth.byPriority.map((entry) => `${thousands(entry.queued)} at ${entry.priority}`).join(', ');

/** The queues as a table: numbers right-aligned, names and notes left-aligned. */
export function queueTable(depths: readonly QueueDepth[]): string {
  const rows = [['QUEUE', 'QUEUED', 'RUNNING', 'WAITING', 'OLDEST QUEUED', 'QUEUED BY PRIORITY']];
  for (const depth of depths) {
    rows.push([`${depth.agent}@${depth.version}`, thousands(depth.queued), thousands(depth.running), thousands(depth.waiting), depth.oldestQueuedMs === null ? '-' : ageText(depth.oldestQueuedMs), priorities(depth)]);
  }
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  const right = new Set([1, 2, 3]);
  return rows.map((row) => row.map((cell, column) => (right.has(column) ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!))).join('  ').trimEnd()).join('\n');
}

export async function showQueue(values: CommandValues, positionals: string[]): Promise<number> {
  if (positionals.length) throw new UserError(`statecraft queue takes no arguments, found "${positionals.join(' ')}". Usage: statecraft queue --store postgres://… [--json]`);
  const given = (values.store as string | undefined) ?? process.env.STATECRAFT_STORE;
  const [{ queueDepth }, { postgresStoreFor }] = await Promise.all([import('../worker/queueDepth.ts'), import('../worker/runQueue.ts')]);
  // Without a store, the check's own message says how to give one.
  if (given === undefined) postgresStoreFor(given, 'queue');
  const depths = await queueDepth(given!);
  if (values.json) {
    process.stdout.write(`${JSON.stringify(depths, null, 2)}\n`);
    return 0;
  }
  if (depths.length === 0) {
    process.stdout.write('No queue in this store yet: queue runs with npx statecraft submit <agent module> --store …\n');
    return 0;
  }
  process.stdout.write(`${queueTable(depths)}\n`);
  return 0;
}
