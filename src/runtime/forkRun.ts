import { randomUUID } from 'node:crypto';
import { UserError } from '../errors.ts';
import { makeRecord } from '../log/makeRecord.ts';
import { applyPatchSafe } from '../log/applyPatch.ts';
import type { Json, Operation } from '../log/record.ts';
import { stateAt } from '../log/reads.ts';
import { newRunSummary, type RunStore } from '../log/runStore.ts';
import { summarize } from '../recorder/summarize.ts';

export interface ForkOptions {
  /** A JSON patch applied to the context at that point; paths are relative to the context, e.g. `/messages/3/content`. */
  edit?: Operation[];
  runId?: string;
}

/**
 * Start a new run whose history begins at record `seq` of another, optionally with its context
 * edited ("what if the tool had returned this"). The parent is not touched; continue the fork with `resumeRun`.
 * @example
 * const forkId = await forkRun(store, runId, 12, { edit: [{ op: 'replace', path: '/messages/4/content', value: '42' }] });
 * const result = await (await resumeRun(agent, forkId, { store })).result;
 */
export async function forkRun(store: RunStore, runId: string, seq: number, options: ForkOptions = {}): Promise<string> {
  const header = await store.header(runId);
  const state = (await stateAt(store, runId, seq)) as { context?: Record<string, Json> } & Record<string, Json>;
  if (!state.context || typeof state.context !== 'object') {
    throw new UserError(`Run ${runId} record ${seq} has no context to fork from.`);
  }
  const forkId = options.runId ?? randomUUID();
  let context: Json = { ...state.context, runId: forkId };
  if (options.edit?.length) {
    try {
      context = applyPatchSafe(context, options.edit);
    } catch (error) {
      throw new UserError(
        `The edit for the fork of run ${runId} at record ${seq} does not apply to its context: ${(error as Error).message.replace(/\.$/, '')}. ` +
          'Paths are relative to the context, for example /messages/2/content; see `statecraft show` for the context at that record.',
        { cause: error },
      );
    }
  }
  const snapshot = { ...state, context } as Json;
  const now = new Date().toISOString();
  const forkHeader = { ...header, runId: forkId, parent: { runId, seq }, createdAt: now };
  await store.createRun(forkHeader, newRunSummary(forkHeader));
  const summary = summarize(snapshot as never);
  const record = makeRecord({
    runId: forkId,
    seq: 0,
    event: { type: 'statecraft.forked', from: { runId, seq }, ...(options.edit?.length ? { edit: options.edit } : {}) },
    state: (snapshot as { value: Json }).value,
    snapshot,
    keyframe: true,
  });
  await store.append(forkId, [record], { expectedSeq: 0, summary: { ...summary, lastSeq: 0 } });
  return forkId;
}
