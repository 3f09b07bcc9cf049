import { applyPatchShared, deepFreeze } from './patch.ts';
import type { Json } from './record.ts';
import type { HistoryEntry, RunStore } from './runStore.ts';
import { CorruptRecordError, InvalidPatchError, RecordNotFoundError } from './storageErrors.ts';

/** While stepping forward, the state after every record whose seq is a multiple of this is kept. */
const ANCHOR_EVERY = 32;
/** From a kept state this close, step forward without asking the store for a later keyframe. */
const STEP_WITHOUT_ASKING = 128;
/** Kept states per store; the least recently used go first. They share structure, so most cost little. */
const MAX_ANCHORS = 256;

interface Anchor {
  seq: number;
  doc: Json;
  used: number;
}

interface RunStates {
  /** Creation time and truncation count: a run that was repaired or recreated starts over. */
  version: string;
  anchors: Anchor[];
}

/**
 * States already reconstructed in this process, per store and run. The log is append-only, so a state,
 * once built, stays true until the run is truncated (repair), which changes the run's version.
 */
class StateCache {
  readonly #runs = new Map<string, RunStates>();
  #count = 0;
  #clock = 0;

  anchors(runId: string, version: string): Anchor[] {
    const states = this.#runs.get(runId);
    if (states?.version === version) return states.anchors;
    this.#count -= states?.anchors.length ?? 0;
    const fresh: RunStates = { version, anchors: [] };
    this.#runs.set(runId, fresh);
    return fresh.anchors;
  }

  /** The kept state with the greatest seq at or before `seq`. */
  nearest(anchors: Anchor[], seq: number): Anchor | undefined {
    let found: Anchor | undefined;
    for (const anchor of anchors) if (anchor.seq <= seq && (!found || anchor.seq > found.seq)) found = anchor;
    if (found) found.used = ++this.#clock;
    return found;
  }

  keep(anchors: Anchor[], seq: number, doc: Json): void {
    if (anchors.some((anchor) => anchor.seq === seq)) return;
    anchors.push({ seq, doc, used: ++this.#clock });
    if (++this.#count > MAX_ANCHORS) this.#evict();
  }

  #evict(): void {
    let oldest: { anchors: Anchor[]; index: number; used: number } | undefined;
    for (const states of this.#runs.values()) {
      states.anchors.forEach((anchor, index) => {
        if (!oldest || anchor.used < oldest.used) oldest = { anchors: states.anchors, index, used: anchor.used };
      });
    }
    if (!oldest) return;
    oldest.anchors.splice(oldest.index, 1);
    this.#count--;
  }
}

const caches = new WeakMap<RunStore, StateCache>();

/**
 * Returns the normalized persisted snapshot after record `seq`: the nearest keyframe, then the patches after it.
 * States already built in this process are kept (per store), so reading nearby points again, as an
 * inspector scrubbing a timeline does, costs a few patches. The result is frozen and shares structure
 * with other results: copy it (structuredClone) before changing it.
 * @example
 * const snapshot = await stateAt(store, runId, 12);
 */
export async function stateAt(store: RunStore, runId: string, seq: number): Promise<Json> {
  const summary = await store.summary(runId);
  if (!Number.isInteger(seq) || seq < 0 || seq > summary.lastSeq) throw new RecordNotFoundError(runId, seq, summary.lastSeq);
  let cache = caches.get(store);
  if (!cache) caches.set(store, (cache = new StateCache()));
  const anchors = cache.anchors(runId, `${summary.createdAt}/${summary.truncations ?? 0}`);
  let base = cache.nearest(anchors, seq);
  if (!base || seq - base.seq > STEP_WITHOUT_ASKING) {
    const keyframe = await store.keyframeAtOrBefore(runId, seq, base ? { after: base.seq } : {});
    if (keyframe?.snapshot !== undefined) {
      const doc = deepFreeze(keyframe.snapshot);
      cache.keep(anchors, keyframe.seq, doc);
      base = { seq: keyframe.seq, doc, used: 0 };
    } else if (!base) {
      throw new CorruptRecordError(`Run "${runId}" has no keyframe at or before record ${seq} (record 0 must be one): restore the run from a backup.`, { runId, seq });
    }
  }
  if (base.seq === seq) return base.doc;
  const entries = await store.readPatches(runId, { from: base.seq + 1, to: seq });
  if (entries.length !== seq - base.seq) {
    throw new CorruptRecordError(`Run "${runId}" is missing records between ${base.seq} and ${seq}: restore the run from a backup.`, { runId, seq });
  }
  let doc = base.doc;
  for (const entry of entries) {
    try {
      doc = applyPatchShared(doc, entry.patch);
    } catch (error) {
      if (!(error instanceof InvalidPatchError)) throw error;
      throw new CorruptRecordError(
        `Run "${runId}" record ${entry.seq} has a patch that does not apply to the snapshot before it (${error.message}): truncate the run to record ${entry.seq - 1} with \`statecraft repair ${runId}\`.`,
        { runId, seq: entry.seq },
        { cause: error },
      );
    }
    if (entry.seq % ANCHOR_EVERY === 0 || entry.seq === seq) cache.keep(anchors, entry.seq, doc);
  }
  return doc;
}

/**
 * Returns each record's seq, time, event type, state value and meta, without reading snapshots.
 * @example
 * for (const line of await history(store, runId)) console.log(line.seq, line.eventType);
 */
export async function history(store: RunStore, runId: string): Promise<HistoryEntry[]> {
  return store.readHistory(runId);
}
