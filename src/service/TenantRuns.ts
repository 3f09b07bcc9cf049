import { randomUUID } from 'node:crypto';
import type { Json, Operation, RunHeader, RunSummary } from '../log/format/record.ts';
import { stateAt } from '../log/reads/reads.ts';
import type { PatchEntry } from '../log/format/storedRecord.ts';
import type { HistoryEntry, RunStore, SeqRange } from '../log/stores/runStore.ts';
import { forkRun } from '../runtime/forkRun.ts';
import { ProblemError, runNotFound } from './http/problem.ts';
import type { RunCursor, RunOwnership, ServiceStore, TenantRunFilter, TenantRunPage } from './store/ServiceStore.ts';

/** Header labels a run started by the service carries: its tenant and the key that started it. */
export const TENANT_LABEL = 'statecraft.tenant';
export const KEY_LABEL = 'statecraft.key';

export const encodeCursor = (cursor: RunCursor): string => Buffer.from(JSON.stringify([cursor.createdAt, cursor.runId])).toString('base64url');

export function decodeCursor(text: string): RunCursor {
  try {
    const [createdAt, runId] = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as unknown[];
    if (typeof createdAt === 'string' && typeof runId === 'string') return { createdAt, runId };
  } catch {
    // answered below
  }
  throw new ProblemError(400, 'bad-cursor', 'Bad cursor', `The cursor "${text.slice(0, 80)}" is not one this service gave: pass the \`next\` of the previous page as it was, or leave cursor out for the first page.`);
}

/** Reads of one run, its tenant checked once. */
export interface FollowedRun {
  summary(): Promise<RunSummary>;
  history(range: SeqRange): Promise<HistoryEntry[]>;
  patches(range: SeqRange): Promise<PatchEntry[]>;
  stateAt(seq: number): Promise<Json>;
}

/**
 * The runs of one tenant: the only way routes reach the run store. Every read first checks that the
 * run is the tenant's, and answers a run of another tenant exactly as one that does not exist.
 */
export class TenantRuns {
  constructor(
    private readonly store: RunStore,
    private readonly service: ServiceStore,
    readonly tenantId: string,
  ) {}

  /** The run's ownership, or the 404 problem. */
  async owned(runId: string): Promise<RunOwnership> {
    const ownership = await this.service.runOf(this.tenantId, runId);
    if (!ownership) throw runNotFound(runId);
    return ownership;
  }

  async get(runId: string): Promise<{ header: RunHeader; summary: RunSummary }> {
    await this.owned(runId);
    const [header, summary] = await Promise.all([this.store.header(runId), this.store.summary(runId)]);
    return { header, summary };
  }

  async summary(runId: string): Promise<RunSummary> {
    await this.owned(runId);
    return this.store.summary(runId);
  }

  async history(runId: string, range: SeqRange): Promise<HistoryEntry[]> {
    await this.owned(runId);
    return this.store.readHistory(runId, range);
  }

  async stateAt(runId: string, seq: number): Promise<Json> {
    await this.owned(runId);
    return stateAt(this.store, runId, seq);
  }

  /**
   * Reads of one run of this tenant, checked once: ownership never changes, so a stream that polls
   * the run does not ask again.
   */
  async follow(runId: string): Promise<FollowedRun> {
    await this.owned(runId);
    return {
      summary: () => this.store.summary(runId),
      history: (range) => this.store.readHistory(runId, range),
      patches: (range) => this.store.readPatches(runId, range),
      stateAt: (seq) => stateAt(this.store, runId, seq),
    };
  }

  list(filter: TenantRunFilter): Promise<TenantRunPage> {
    return this.service.listRuns(this.tenantId, filter);
  }

  /** A new run id claimed for this tenant, before anything is written under it. */
  async claim(keyId: string, thread?: string): Promise<string> {
    const runId = randomUUID();
    await this.service.claimRun({ runId, tenantId: this.tenantId, createdByKey: keyId, createdAt: new Date().toISOString(), ...(thread === undefined ? {} : { thread }) });
    return runId;
  }

  /** Forks a run of this tenant; the fork belongs to the tenant too (and its parent's thread), started by `keyId`. */
  async fork(runId: string, seq: number, edit: Operation[] | undefined, keyId: string): Promise<string> {
    const parent = await this.owned(runId);
    const forkId = await this.claim(keyId, parent.thread);
    await forkRun(this.store, runId, seq, { runId: forkId, ...(edit ? { edit } : {}) });
    return forkId;
  }
}
