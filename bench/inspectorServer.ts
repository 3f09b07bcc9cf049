// Where a far jump's time goes on the inspector's server, measured in this process on a store handle
// of its own (nothing of the run read before): the state from the nearest keyframe or indexed state,
// the step view with its message window, its JSON size, the row beside it and the step's timing.
import { timingAt } from '../src/inspector/timingAt.ts';
import { RecordRows } from '../src/inspector/recordRows.ts';
import { StateCache } from '../src/inspector/stateCache.ts';
import { stateAt } from '../src/log/reads/reads.ts';
import type { RunStore } from '../src/log/stores/runStore.ts';

export interface ServerFigures {
  /** stateAt at a record far from any read before: from the nearest keyframe or indexed state. */
  stateAtMs: number[];
  /** The whole step view (state, record, message window, JSON text), the state already built. */
  viewMs: number[];
  viewBytes: number[];
  windowMessages: number[];
  /** The record's row, as the view adds it. */
  rowMs: number[];
  /** The rows a far jump draws (about 110). */
  rowsMs: number[];
  timingMs: number[];
  timingBytes: number[];
}

/** Times the server's parts of a jump to each of `seqs`, with the page's message window (`-46`). */
export async function serverFigures(store: RunStore, runId: string, seqs: number[], window = 46): Promise<ServerFigures> {
  const figures: ServerFigures = { stateAtMs: [], viewMs: [], viewBytes: [], windowMessages: [], rowMs: [], rowsMs: [], timingMs: [], timingBytes: [] };
  const rows = new RecordRows(store);
  const cache = new StateCache(store);
  const time = async <T>(into: number[], work: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    const result = await work();
    into.push(performance.now() - started);
    return result;
  };
  for (const seq of seqs) {
    await time(figures.stateAtMs, () => stateAt(store, runId, seq));
    const [row] = (await time(figures.rowMs, () => rows.range(runId, seq, seq))).rows;
    const json = await time(figures.viewMs, () => cache.viewJson(runId, seq, { last: window }, row ? { row } : {}));
    figures.viewBytes.push(Buffer.byteLength(json));
    figures.windowMessages.push((JSON.parse(json) as { messages: unknown[] }).messages.length);
    await time(figures.rowsMs, () => rows.range(runId, Math.max(0, seq - 55), seq + 55));
    const timing = await time(figures.timingMs, () => timingAt(store, runId, seq));
    figures.timingBytes.push(Buffer.byteLength(JSON.stringify(timing)));
  }
  return figures;
}
