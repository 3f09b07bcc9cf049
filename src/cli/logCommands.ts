import { hostname } from 'node:os';
import { UserError } from '../errors.ts';
import { RUN_STATUSES } from './commands/commonOptions.ts';
import { thousands } from './thousands.ts';
import { withStoreOption } from './suggestedCommands.ts';
import { stateAt } from '../log/reads/reads.ts';
import type { RunSummary } from '../log/format/record.ts';
import type { AgentContext } from '../protocol/agent.ts';
import type { Message, Usage } from '../protocol/messages.ts';
import { liveOwner } from '../recorder/owner.ts';
import { oneLine } from '../runtime/decisionEvents.ts';
import { compactionWords } from '../runtime/compaction/compactionWords.ts';
import { intOption, nonNegativeIntOption, type CommandValues } from './args.ts';
import { tokenParts, tokensText } from './tokensText.ts';
import type { HistoryEntry, RunStore } from '../log/stores/runStore.ts';
import { CorruptRecordError, RecordNotFoundError, StoreNotFoundError, UnsupportedFormatError } from '../log/format/storageErrors.ts';
import { resolveRunId, withRun, withStore } from './storeOption.ts';

export const table = (rows: string[][]) => {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd()).join('\n');
};

/** A long text cut to `max` characters, saying how much was left out (--json shows everything). */
const clip = (text: string, max: number) => (text.length <= max ? text : `${text.slice(0, max)}… (${text.length - max} more characters; --json shows all)`);

const stateText = (state: unknown) => (typeof state === 'string' ? state : JSON.stringify(state));
const tokens = (summary: RunSummary) => thousands(summary.inputTokens + summary.outputTokens);

const UNIT_MS = { m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** `--since`: an ISO time, or an age back from now (30m, 2h, 7d), as an ISO time. */
function sinceTime(text: string): string {
  const age = /^(\d+)([mhd])$/.exec(text.trim());
  const time = age ? Date.now() - Number(age[1]) * UNIT_MS[age[2] as keyof typeof UNIT_MS] : Date.parse(text);
  if (!Number.isFinite(time)) throw new UserError(`--since takes an ISO time (2026-11-30T09:00Z) or an age (30m, 2h, 7d); found "${text}".`);
  return new Date(time).toISOString();
}

/** Where a running run runs, or that no process runs it any more (it crashed or was killed). */
function processNote(run: RunSummary): string {
  if (run.status === 'queued') return `submitted; waits for a worker started with agent ${run.agentId}'s module: npx statecraft worker --agents <module>`;
  if (run.status === 'created') return `a fork not started yet: npx statecraft resume ${run.runId.slice(0, 8)}`;
  if (run.status !== 'running') return '';
  const owner = liveOwner(run);
  if (!owner) {
    // Forks recorded before the `created` status began as running, and wait for their first resume.
    const why = run.parent && !run.owner ? 'a fork not resumed yet, or its process stopped' : 'its process stopped: it crashed or was killed';
    return `no process runs it (${why}): npx statecraft resume ${run.runId.slice(0, 8)}`;
  }
  return `in pid ${owner.pid}${owner.host === hostname() ? '' : ` on ${owner.host}`}`;
}

export async function listRuns(values: CommandValues): Promise<number> {
  const status = (values.status as string | undefined)?.split(',').map((s) => s.trim());
  const unknown = status?.filter((s) => !(RUN_STATUSES as readonly string[]).includes(s));
  if (unknown?.length) throw new UserError(`Unknown status ${unknown.join(', ')}; use ${RUN_STATUSES.join(', ')}.`);
  const since = values.since === undefined ? undefined : sinceTime(values.since as string);
  return withStore(values, async (store) => {
    const runs = await store.listRuns({
      ...(status ? { status: status as RunSummary['status'][] } : {}),
      ...(values.agent ? { agentId: values.agent as string } : {}),
      ...(values.parent ? { parentRunId: values.parent as string } : {}),
      ...(since ? { updatedAfter: since } : {}),
      limit: intOption(values, 'limit') ?? 50,
    });
    if (values.json) {
      process.stdout.write(`${JSON.stringify(runs, null, 2)}\n`);
      return 0;
    }
    if (!runs.length) {
      const filtered = status || values.agent || values.parent || since;
      process.stdout.write(filtered ? 'No runs match these filters.\n' : 'No runs recorded yet: start one by running an agent module with npx statecraft run.\n');
      return 0;
    }
    const rows = [['RUN', 'STATUS', 'AGENT', 'STEPS', 'TOKENS', 'COST', 'UPDATED', 'NOTE']];
    for (const run of runs) {
      const waiting = waitingNote(run.waitingOn);
      const fork = run.parent ? `fork of ${run.parent.runId}@${run.parent.seq}` : '';
      if (run.damaged) {
        rows.push([run.runId, run.status, run.agentId, '?', '?', '?', run.updatedAt.replace('T', ' ').slice(0, 19), `summary cannot be read: npx statecraft repair ${run.runId}`]);
        continue;
      }
      // Why a run ended is what its row is read for: kept on one line, and cut only when very long.
      const note = (waiting || [processNote(run), fork].filter(Boolean).join(' · ')).slice(0, 160) || oneLine(run.reason ?? '', 400);
      rows.push([run.runId, run.status, run.agentId, String(run.steps), tokens(run), `$${run.costUsd.toFixed(4)}`, run.updatedAt.replace('T', ' ').slice(0, 19), note]);
    }
    process.stdout.write(withStoreOption(`${table(rows)}\n`, values.store as string | undefined));
    return 0;
  }).catch((error: unknown) => {
    // No store yet is an empty listing, said on stderr so that --json still prints its one document.
    if (!(error instanceof StoreNotFoundError)) throw error;
    process.stderr.write(`${error.message}\n`);
    if (values.json) process.stdout.write('[]\n');
    return 0;
  });
}

/** A record number option: a whole number, 0 or more. */
const seqOption = (values: Record<string, unknown>, name: string) =>
  nonNegativeIntOption(values, name, 'a record number, 0 or more');

export async function listHistory(values: CommandValues, [runId]: string[]): Promise<number> {
  if (!runId) throw new UserError('Missing the run id. Usage: statecraft history <run>');
  const last = intOption(values, 'last');
  if (last !== undefined && values.from !== undefined) throw new UserError('--last and --from both say where to start: give one of them.');
  const to = seqOption(values, 'to');
  const given = seqOption(values, 'from');
  if (given !== undefined && to !== undefined && given > to) {
    throw new UserError(`--from ${given} is after --to ${to}: give --from at most --to (both are record numbers).`);
  }
  return withRun(values, runId, async (store, runId) => {
    const from = last === undefined ? given : Math.max(0, (to ?? (await store.summary(runId)).lastSeq) - last + 1);
    const { entries, damaged } = await readableHistory(store, runId, from ?? 0, to);
    // Nothing from a start past the last record is a mistake to name, as `show --at` does, not an empty listing.
    if (!entries.length && given !== undefined) throw new RecordNotFoundError(runId, given, (await store.summary(runId)).lastSeq);
    if (values.json) {
      process.stdout.write(`${JSON.stringify(entries, null, 2)}\n`);
    } else {
      const rows = [['SEQ', 'TIME', 'EVENT', 'STATE', 'DETAIL']];
      for (const entry of entries) {
        const detail = 'damaged' in entry ? entry.damaged : describeEvent(entry.event).replace(/\s+/g, ' ').slice(0, 160);
        rows.push('damaged' in entry ? [String(entry.seq), '-', '(damaged)', '-', detail] : [String(entry.seq), entry.time.slice(11, 23), entry.eventType, stateText(entry.state), detail]);
      }
      process.stdout.write(`${table(rows)}\n`);
    }
    if (damaged.length === 0) return 0;
    process.stderr.write(withStoreOption(`Run ${runId}: record${damaged.length === 1 ? '' : 's'} ${damaged.join(', ')} cannot be read; the others are listed. See what can be recovered with \`npx statecraft repair ${runId}\`.\n`, values.store as string | undefined));
    return 1;
  });
}

/**
 * The history lines of a run from `from` to `to`, going on past records that cannot be read (each
 * listed with what is wrong) rather than stopping at the first.
 */
async function readableHistory(store: RunStore, runId: string, from: number, to: number | undefined) {
  const entries: (HistoryEntry | { seq: number; damaged: string })[] = [];
  const damaged: number[] = [];
  for (let next = from; ; ) {
    try {
      entries.push(...(await store.readHistory(runId, { from: next, ...(to === undefined ? {} : { to }) })));
      return { entries, damaged };
    } catch (error) {
      const seq = error instanceof CorruptRecordError ? error.seq : undefined;
      if (seq === undefined || seq < next || error instanceof UnsupportedFormatError) throw error;
      if (seq > next) entries.push(...(await store.readHistory(runId, { from: next, to: seq - 1 })));
      entries.push({ seq, damaged: (error as Error).message });
      damaged.push(seq);
      next = seq + 1;
    }
  }
}

/** One line on what an event did: decisions with their approver and reason, tool calls, model turns. */
export function describeEvent(event: { type: string } & Record<string, unknown>): string {
  const e = event as Record<string, unknown>;
  switch (event.type) {
    case 'APPROVE':
      return `approved ${e.callId} by ${e.by ?? 'user'}${e.argsHash ? ` (args ${e.argsHash})` : ''}${e.arguments ? ` with edited arguments ${e.arguments}` : ''}${e.always ? ', always for this tool' : ''}`;
    case 'REJECT':
      return `rejected ${e.callId} by ${e.by ?? 'user'}: ${e.reason}`;
    case 'APPROVAL_EXPIRED':
      return 'approval deadline passed';
    case 'TOOL_STARTED':
    case 'TOOL_INTERRUPTED':
      return String(e.callId);
    case 'TOOL_FINISHED':
      return `${e.callId}${(e.outcome as { isError?: boolean } | undefined)?.isError ? ' (error)' : ''}`;
    case 'xstate.done.actor.callModel': {
      const output = e.output as { message?: { content?: string | null; toolCalls?: { name: string }[] }; usage?: Usage };
      const calls = output?.message?.toolCalls ?? [];
      const usage = output?.usage ? ` · ${output.usage.inputTokens}+${output.usage.outputTokens} tokens${tokenParts(output.usage)}` : '';
      return (calls.length ? `calls ${calls.map((c) => c.name).join(', ')}` : `answers: ${output?.message?.content ?? ''}`) + usage;
    }
    case 'xstate.done.actor.compactContext':
      return compactionWords(e.output);
    case 'CANCEL':
      return String(e.reason ?? '');
    default:
      if (event.type.startsWith('statecraft.')) {
        const { type: _type, ...rest } = e;
        return JSON.stringify(rest);
      }
      if (event.type.startsWith('xstate.error.actor.')) return String((e.error as { message?: string } | undefined)?.message ?? '');
      return '';
  }
}

const renderMessage = (message: Message) => {
  switch (message.role) {
    case 'assistant':
      return [
        ...(message.content ? [`assistant: ${message.content}`] : []),
        ...(message.toolCalls ?? []).map((call) => `assistant → ${call.name}(${call.arguments})  [${call.id}]`),
      ].join('\n');
    case 'tool':
      return `tool ${message.name} [${message.toolCallId}]: ${message.content}`;
    default:
      return `${message.role}: ${message.content}`;
  }
};

/** What `statecraft runs` says a waiting run waits on: each call's tool, arguments, id, the agent holding it if invoked, and the policy that asked. */
export function waitingNote(waitingOn: unknown): string {
  if (!Array.isArray(waitingOn)) return '';
  const calls = waitingOn as { tool: string; callId: string; arguments: string; actor?: string; policy?: { source: string } }[];
  return `waits on ${calls
    .map((w) => `${w.tool}(${w.arguments.slice(0, 40)}) ${w.callId}${w.actor ? ` in ${w.actor}` : ''}${w.policy ? ` [${w.policy.source}]` : ''}`)
    .join(', ')}`;
}

export async function showRun(values: CommandValues, [runId]: string[]): Promise<number> {
  if (!runId) throw new UserError('Missing the run id. Usage: statecraft show <run> [--at SEQ]');
  return withRun(values, runId, async (store, runId) => {
    const summary = await store.summary(runId);
    if (summary.lastSeq < 0) throw new UserError(`Run ${runId} has no records yet: there is nothing to show.`);
    const at = nonNegativeIntOption(values, 'at', `a record number from 0 to ${summary.lastSeq}`) ?? summary.lastSeq;
    const snapshot = (await stateAt(store, runId, at)) as unknown as { value: unknown; context: AgentContext };
    const [record] = await store.read(runId, { from: at, to: at });
    if (values.json) {
      process.stdout.write(`${JSON.stringify({ record: { ...record, snapshot: undefined }, snapshot }, null, 2)}\n`);
      return 0;
    }
    const { context } = snapshot;
    const shown = 20;
    const lines = [
      `run ${runId} · record ${at} of ${summary.lastSeq} · ${record!.time}`,
      // At its last record, the run as `statecraft runs` lists it: how it ended, and why.
      ...(at === summary.lastSeq ? [`status: ${summary.status}${summary.reason ? ` · ${summary.reason}` : ''}`] : []),
      `state: ${stateText(snapshot.value)}`,
      `event: ${clip(JSON.stringify(record!.event), 400)}`,
      `patch: ${record!.patch.length} op(s)`,
      ...record!.patch.slice(0, shown).map((op) => `  ${op.op} ${op.path}${'value' in op ? ` ${clip(JSON.stringify(op.value), 120)}` : ''}`),
      ...(record!.patch.length > shown ? [`  … ${record!.patch.length - shown} more op(s): see them all with --json`] : []),
    ];
    if (context?.messages) {
      lines.push(`step ${context.step} of ${context.limits.maxSteps} · ${tokensText(context.usage)} · $${context.costUsd.toFixed(4)}`);
      if (context.stop) lines.push(`stopped: ${context.stop.reason} · ${context.stop.detail}`);
      for (const call of context.turn?.calls ?? []) lines.push(`call ${call.id} ${call.name}: ${call.status}${call.note ? ` · ${call.note.slice(0, 100)}` : ''}`);
      lines.push('', 'messages:', ...context.messages.map(renderMessage));
    } else {
      lines.push('', `context: ${JSON.stringify((snapshot as { context?: unknown }).context, null, 2)}`);
    }
    process.stdout.write(`${lines.join('\n')}\n`);
    return 0;
  });
}

/** A run's summary, or, when it cannot be read, the run id and why (a damaged run can still be deleted). */
async function summaryOrDamage(store: RunStore, runId: string): Promise<RunSummary | { runId: string; damaged: string }> {
  try {
    return await store.summary(runId);
  } catch (error) {
    if (!(error instanceof CorruptRecordError)) throw error;
    return { runId, damaged: error.message };
  }
}

export async function deleteRuns(values: CommandValues, given: string[]): Promise<number> {
  if (!given.length) throw new UserError('Missing the run id. Usage: statecraft delete <run> [<run> ...] [--yes]');
  return withStore(values, async (store) => {
    // Every id is found before anything is deleted, so a mistyped one deletes nothing.
    const runs: Array<RunSummary | { runId: string; damaged: string }> = [];
    for (const text of given) runs.push(await summaryOrDamage(store, await resolveRunId(store, text)));
    for (const run of runs) {
      const what = 'status' in run ? `${run.runId} (${run.agentId}, ${run.status}, ${run.lastSeq + 1} records)` : `${run.runId} (its summary cannot be read)`;
      if (!values.yes) {
        process.stdout.write(`Would delete ${what}${'status' in run && run.status === 'running' ? '; its status is running: make sure no process is running it' : ''}.\n`);
        continue;
      }
      await store.deleteRun(run.runId);
      process.stdout.write(`Deleted ${what}.\n`);
    }
    if (!values.yes) process.stdout.write('Nothing was deleted: run the command again with --yes to delete.\n');
    return 0;
  });
}
