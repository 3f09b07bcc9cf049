import { applyPatchShared } from '../format/applyPatch.ts';
import { repairHint, type Json } from '../format/record.ts';
import type { HistoryEntry, RunStore } from '../stores/runStore.ts';
import { CorruptRecordError, InvalidPatchError, RecordNotFoundError } from '../format/storageErrors.ts';

/** While stepping forward, the state after every record whose seq is a multiple of this is kept. */
const ANCHOR_EVERY = 64;
/**
 * Reading and parsing a keyframe costs about as much as stepping this many records forward (measured
 * on a 10,000-step run, where keyframes are 1 to 2 MB): a kept state is preferred to a later keyframe
 * unless it lies this much farther back.
 */
const KEYFRAME_COST_IN_RECORDS = 512;
/**
 * Loading an indexed state whose chunks were read before costs about as much as stepping this many
 * records (its root holds the state but for whole chunks of long arrays).
 */
const INDEXED_COST_IN_RECORDS = 16;
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
 * Returns the normalized persisted snapshot after record `seq`: the nearest indexed state or keyframe, then the patches after it.
 * States already built in this process are kept (per store), so reading nearby points again, as an
 * inspector scrubbing a timeline does, costs a few patches. The result shares structure with the
 * states kept and with other results: treat it as read-only, and copy it (structuredClone) before changing it.
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
  // The nearest keyframe's seq, once asked.
  let keyframeSeq: number | undefined;
  if (anchors.length === 0) {
    // Nothing of this run read in this process yet: a keyframe at `seq` itself (a run waiting for a
    // decision, or ended, ends with one) costs one parse, where an indexed state would first load
    // all its chunks and then step forward (a resume reads its run this way).
    keyframeSeq = await store.keyframeSeqAtOrBefore(runId, seq);
    const keyframe = keyframeSeq === seq ? await store.keyframeAtOrBefore(runId, seq) : undefined;
    if (keyframe?.snapshot !== undefined && keyframe.seq === seq) {
      cache.keep(anchors, seq, keyframe.snapshot);
      return keyframe.snapshot;
    }
  }
  if ((!base || seq - base.seq > INDEXED_COST_IN_RECORDS) && store.statePointSeqAtOrBefore && store.statePointAt) {
    const indexedSeq = await store.statePointSeqAtOrBefore(runId, seq);
    if (indexedSeq >= 0 && (!base || indexedSeq - base.seq > INDEXED_COST_IN_RECORDS)) {
      // Undefined when the entry cannot be read: the log, not the index, is the truth.
      const doc = await store.statePointAt(runId, indexedSeq);
      if (doc !== undefined) {
        cache.keep(anchors, indexedSeq, doc);
        base = { seq: indexedSeq, doc, used: 0 };
      }
    }
  }
  // A keyframe can only be worth loading when the kept state lies farther back than its cost.
  if (base && seq - base.seq <= KEYFRAME_COST_IN_RECORDS) keyframeSeq = -1;
  else keyframeSeq ??= await store.keyframeSeqAtOrBefore(runId, seq);
  if (!base || keyframeSeq - base.seq > KEYFRAME_COST_IN_RECORDS) {
    const keyframe = keyframeSeq < 0 ? undefined : await store.keyframeAtOrBefore(runId, seq);
    if (keyframe?.snapshot === undefined) {
      throw new CorruptRecordError(`Run "${runId}" has no keyframe at or before record ${seq} (record 0 must be one): restore the run from a backup.`, { runId, seq });
    }
    cache.keep(anchors, keyframe.seq, keyframe.snapshot);
    base = { seq: keyframe.seq, doc: keyframe.snapshot, used: 0 };
  }
  if (base.seq === seq) return base.doc;
  const entries = await store.readPatches(runId, { from: base.seq + 1, to: seq });
  if (entries.length !== seq - base.seq) {
    throw new CorruptRecordError(`Run "${runId}" is missing records between ${base.seq} and ${seq}: restore the run from a backup.`, { runId, seq });
  }
  let doc = base.doc;
  // Nodes made during this walk are changed in place until a state is kept, then copied again on change.
  let owned = new WeakSet<object>();
  for (const entry of entries) {
    try {
      doc = applyPatchShared(doc, entry.patch, owned);
    } catch (error) {
      if (!(error instanceof InvalidPatchError)) throw error;
      throw new CorruptRecordError(
        `Run "${runId}" record ${entry.seq} has a patch that does not apply to the snapshot before it (${error.message}): ${repairHint(runId)}.`,
        { runId, seq: entry.seq },
        { cause: error },
      );
    }
    if (entry.seq % ANCHOR_EVERY === 0 || entry.seq === seq) {
      cache.keep(anchors, entry.seq, doc);
      owned = new WeakSet<object>();
    }
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
