import { RunSummarySchema, type RunHeader, type RunSummary } from '../format/record.ts';
import { CorruptRecordError } from '../format/storageErrors.ts';
import { summaryFromText } from './runStore.ts';

/** The header label that names a run's conversation thread, and its tenant's. */
export const THREAD_LABEL = 'statecraft.thread';
export const TENANT_LABEL = 'statecraft.tenant';

/** Filters for `RunStore.listRuns`; results are ordered by `updatedAt`, newest first. */
export interface ListRunsFilter {
  status?: RunSummary['status'][];
  agentId?: string;
  parentRunId?: string;
  limit?: number;
  updatedAfter?: string;
  /** Only runs of this conversation thread (the header's `statecraft.thread` label); `true`: runs of any thread. */
  thread?: string | true;
  /** Only runs of this tenant (the header's `statecraft.tenant` label); `null`: runs of no tenant. */
  tenant?: string | null;
}

/** A listed run: its summary, and the thread and tenant its header names (stores index them). */
export type ListedRun = RunSummary & { thread?: string; tenant?: string };

/**
 * The thread and tenant a header's labels name, as stores index them. The service's runs name
 * their thread with the label `thread`, which counts too.
 */
export function threadOfHeader(header: Pick<RunHeader, 'labels'>): { thread: string | null; tenant: string | null } {
  const labels = header.labels ?? {};
  return { thread: labels[THREAD_LABEL] ?? labels['thread'] ?? null, tenant: labels[TENANT_LABEL] ?? null };
}

/** A row of a store's runs table as listings read it; PostgreSQL gives times as Dates. */
export interface ListedRow {
  run_id: string;
  agent_id: string;
  status: string;
  created_at: string | Date;
  updated_at: string | Date;
  summary: string;
  thread?: string | null;
  tenant?: string | null;
}

const withThread = (summary: RunSummary, row: ListedRow): ListedRun => ({
  ...summary,
  ...(row.thread ? { thread: row.thread } : {}),
  ...(row.tenant ? { tenant: row.tenant } : {}),
});

/** A listed run's summary, or, when it cannot be read, what the row's indexed columns say, zero counts, and why (`damaged`). */
export function listedSummary(row: ListedRow): ListedRun {
  try {
    return withThread(summaryFromText(row.summary, row.run_id), row);
  } catch (error) {
    if (!(error instanceof CorruptRecordError)) throw error;
    const status = (RunSummarySchema.shape.status.options as readonly string[]).includes(row.status) ? (row.status as RunSummary['status']) : 'failed';
    const time = (value: string | Date): string => new Date(value).toISOString();
    const summary: RunSummary = {
      runId: row.run_id,
      agentId: row.agent_id,
      status,
      steps: 0,
      inputTokens: 0,
      outputTokens: 0,
      costUsd: 0,
      lastSeq: -1,
      createdAt: time(row.created_at),
      updatedAt: time(row.updated_at),
      damaged: error.message,
    };
    return withThread(summary, row);
  }
}

/** Returns true when a listed run passes a listRuns filter (stores without a query language use it). */
export function matchesFilter(summary: ListedRun, filter: ListRunsFilter): boolean {
  if (filter.status && !filter.status.includes(summary.status)) return false;
  if (filter.agentId !== undefined && summary.agentId !== filter.agentId) return false;
  if (filter.parentRunId !== undefined && summary.parent?.runId !== filter.parentRunId) return false;
  if (filter.updatedAfter !== undefined && !(Date.parse(summary.updatedAt) > Date.parse(filter.updatedAfter))) return false;
  if (filter.thread !== undefined && (filter.thread === true ? summary.thread === undefined : summary.thread !== filter.thread)) return false;
  if (filter.tenant !== undefined && (summary.tenant ?? null) !== filter.tenant) return false;
  return true;
}

/** Orders summaries newest first by `updatedAt`, then by run id. */
export function compareNewestFirst(a: RunSummary, b: RunSummary): number {
  const byTime = Date.parse(b.updatedAt) - Date.parse(a.updatedAt);
  if (byTime !== 0) return byTime;
  return a.runId < b.runId ? -1 : a.runId > b.runId ? 1 : 0;
}
