import { UserError } from '../errors.ts';
import type { RecordDamage } from '../log/reads/scanRun.ts';
import { UnsupportedFormatError } from '../log/format/storageErrors.ts';
import { planRepair, repairRun, type RepairPlan } from '../runtime/repairRun.ts';
import type { CommandValues } from './args.ts';
import { withRun } from './storeOption.ts';
import { withStoreOption } from './suggestedCommands.ts';

/** Seqs as a reader counts them: "record 7", "records 8 to 21", "records 3, 5 and 9 to 12". */
export function recordsText(seqs: readonly number[]): string {
  const ranges: string[] = [];
  for (let i = 0; i < seqs.length; ) {
    let j = i;
    while (j + 1 < seqs.length && seqs[j + 1] === seqs[j]! + 1) j++;
    ranges.push(j > i ? `${seqs[i]} to ${seqs[j]}` : String(seqs[i]));
    i = j + 1;
  }
  const list = ranges.length > 1 ? `${ranges.slice(0, -1).join(', ')} and ${ranges.at(-1)}` : (ranges[0] ?? '');
  return `${seqs.length === 1 ? 'record' : 'records'} ${list}`;
}

/** "record 7 is damaged", "records 8 to 9 are missing": damaged when any is unreadable or does not apply. */
function damagedText(damage: readonly RecordDamage[]): string {
  const verb = damage.length === 1 ? 'is' : 'are';
  return `${recordsText(damage.map((entry) => entry.seq))} ${verb} ${damage.every((entry) => entry.problem === 'missing') ? 'missing' : 'damaged'}`;
}

const MAX_DETAILS = 5;
const details = (damage: readonly RecordDamage[]): string[] => [
  ...damage.slice(0, MAX_DETAILS).map((entry) => `  ${entry.detail}`),
  ...(damage.length > MAX_DETAILS ? [`  and ${damage.length - MAX_DETAILS} more`] : []),
];

/** What repair says about a plan it will not carry out, or before --yes; each names what the user can do. */
function report(runId: string, plan: RepairPlan): string[] {
  switch (plan.kind) {
    case 'intact':
      return [plan.lastSeq < 0 ? `Run ${runId} has no records yet; nothing to repair.` : `Run ${runId}: all ${plan.lastSeq + 1} records are intact; nothing to repair.`];
    case 'summary':
      return [
        `Run ${runId}: all ${plan.lastSeq + 1} records are intact, but ${plan.why.replace(/^Run "[^"]*" /, 'its ').replace(/: rebuild it .*$/s, '')}.`,
        `Run again with --yes to rebuild the summary from the state after record ${plan.lastSeq}.`,
      ];
    case 'tail':
      return [
        `Run ${runId}: ${damagedText(plan.damage)}, and no intact record follows: a torn tail.`,
        ...details(plan.damage),
        `Run again with --yes to remove ${recordsText(plan.damage.map((entry) => entry.seq))}; the run will then end at record ${plan.keep} (state ${plan.state}), its summary rebuilt from that state.`,
      ];
    case 'firstRecord':
      return [
        `Run ${runId}: ${damagedText(plan.damage)}, record 0 (the run's first state) among them, so the run cannot be recovered from its own log; repair changes nothing.`,
        ...details(plan.damage),
        `Delete the run with \`npx statecraft delete ${runId}\` if it is not wanted, or restore it from a backup.`,
      ];
    case 'intactFollow':
      return [
        `Run ${runId}: ${damagedText(plan.damage)}, and ${recordsText(plan.intactAfter)} after ${plan.damage.length === 1 ? 'it' : `record ${plan.damage[0]!.seq}`} ` +
          `${plan.intactAfter.length === 1 ? 'is' : 'are'} intact, ` +
          `so repair removes nothing (it cuts only a damaged tail; cutting back to record ${plan.lastGood} would delete intact records).`,
        ...details(plan.damage),
        `To go on from before the damage, fork a new run from ${plan.forkFrom === plan.lastGood ? 'the last good record' : `record ${plan.forkFrom}, before the tool call running at the last good record (${plan.lastGood})`}: ` +
          `npx statecraft fork ${runId} --at ${plan.forkFrom}, then resume the run it prints.`,
        'To keep the whole run, restore it from a backup.',
      ];
  }
}

/** What repair says once it has carried out a plan. */
function done(runId: string, plan: RepairPlan, removed: number): string {
  if (plan.kind === 'summary') return `Rebuilt the summary of ${runId} from the state after record ${plan.lastSeq}.`;
  if (plan.kind !== 'tail') return report(runId, plan).join('\n');
  return `Removed ${removed} record(s) from ${runId}; it now ends at record ${plan.keep} (state ${plan.state}) and its summary was rebuilt from that state. Continue it with: npx statecraft resume ${runId}`;
}

export async function repair(values: CommandValues, [runId]: string[]): Promise<number> {
  if (!runId) throw new UserError('Missing the run id. Usage: statecraft repair <run> [--yes]');
  return withRun(values, runId, async (store, runId) => {
    try {
      if (values.yes) {
        const { plan, removed } = await repairRun(store, runId);
        process.stdout.write(withStoreOption(`${done(runId, plan, removed)}\n`, values.store as string | undefined));
        return plan.kind === 'intact' || plan.kind === 'tail' || plan.kind === 'summary' ? 0 : 1;
      }
      const plan = await planRepair(store, runId);
      process.stdout.write(withStoreOption(`${report(runId, plan).join('\n')}\n`, values.store as string | undefined));
      return plan.kind === 'intact' ? 0 : 1;
    } catch (error) {
      if (!(error instanceof UnsupportedFormatError)) throw error;
      process.stdout.write(`${error.message}\nRepair changes nothing: a newer format is not damage.\n`);
      return 1;
    }
  });
}
