import type { RunHeader, RunSummary } from '../../log/format/record.ts';
import type { ListRunsFilter, RunStore } from '../../log/stores/runStore.ts';
import { ProblemError } from '../http/problem.ts';
import type { TenantRuns } from '../TenantRuns.ts';

/** Runs the inspector lists at most, as the service's own listing pages them. */
const MOST_LISTED = 200;
/** Runs whose ownership is remembered (it never changes), so that a page's many reads of a run ask once. */
const MOST_REMEMBERED = 10_000;

const readOnly = (what: string) => () => {
  throw new ProblemError(405, 'read-only', 'Read only', `The inspector reads runs and does not ${what}: use the service's routes (see /openapi.json).`);
};

/** What a tenant is shown of a summary: not the process that holds the run, nor the server path of its agent's module. */
const shownSummary = ({ owner: _owner, agentModule: _module, ...shown }: RunSummary): RunSummary => shown;

/** What a tenant is shown of a header: its labels but the `module` the executor adds (a path on the server). */
function shownHeader(header: RunHeader): RunHeader {
  if (!header.labels || !('module' in header.labels)) return header;
  const { module: _module, ...labels } = header.labels;
  return { ...header, labels };
}

/**
 * A read-only RunStore that holds the runs of one tenant only, for the inspector's handlers: every read
 * of a run first checks that it is the tenant's (a run of another tenant is answered exactly as one that
 * does not exist, 404), and the listing is the tenant's. Writes are refused: the inspector's actions go
 * through the service's own checks (scopes, separation of duties, argument hashes).
 */
export function tenantRunStore(store: RunStore, runs: TenantRuns): RunStore {
  const owned = new Set<string>();
  const check = async (runId: string) => {
    if (owned.has(runId)) return;
    await runs.owned(runId);
    if (owned.size >= MOST_REMEMBERED) owned.clear();
    owned.add(runId);
  };
  const channel = store.liveChannel?.bind(store);
  return {
    header: async (runId) => (await check(runId), shownHeader(await store.header(runId))),
    summary: async (runId) => (await check(runId), shownSummary(await store.summary(runId))),
    read: async (runId, range) => (await check(runId), store.read(runId, range)),
    readHistory: async (runId, range) => (await check(runId), store.readHistory(runId, range)),
    readPatches: async (runId, range) => (await check(runId), store.readPatches(runId, range)),
    keyframeAtOrBefore: async (runId, seq) => (await check(runId), store.keyframeAtOrBefore(runId, seq)),
    keyframeSeqAtOrBefore: async (runId, seq) => (await check(runId), store.keyframeSeqAtOrBefore(runId, seq)),
    ...(store.statePointSeqAtOrBefore ? { statePointSeqAtOrBefore: async (runId: string, seq: number) => (await check(runId), store.statePointSeqAtOrBefore!(runId, seq)) } : {}),
    ...(store.statePointAt ? { statePointAt: async (runId: string, seq: number) => (await check(runId), store.statePointAt!(runId, seq)) } : {}),
    // Machine graphs are the served agents' definitions, found by the id and hash a run's header names.
    ...(store.machine ? { machine: (id: string, hash: string) => store.machine!(id, hash) } : {}),
    listRuns: async (filter: ListRunsFilter = {}) => {
      const page = await runs.list({
        limit: Math.min(filter.limit ?? MOST_LISTED, MOST_LISTED),
        ...(filter.status ? { status: filter.status } : {}),
        ...(filter.agentId ? { agentId: filter.agentId } : {}),
        ...(filter.parentRunId ? { parentRunId: filter.parentRunId } : {}),
      });
      return page.runs.map(shownSummary);
    },
    ...(channel
      ? {
          liveChannel: () => {
            const live = channel();
            // Subscribing only, to the tenant's runs; the channel itself is the store's, closed with it.
            return {
              publish: () => {},
              subscribe: async (runId, listener) => (await check(runId), live.subscribe(runId, listener)),
              endStep: () => {},
              endRun: () => {},
              close: async () => {},
            };
          },
        }
      : {}),
    createRun: readOnly('create runs'),
    append: readOnly('write records'),
    deleteRun: readOnly('delete runs'),
    truncate: readOnly('truncate runs'),
    close: async () => {},
  };
}
