import { RecordNotFoundError } from '../log/format/storageErrors.ts';
import { stateAt } from '../log/reads/reads.ts';
import { persistedAgents } from '../log/stores/persistedAgents.ts';
import type { Json } from '../log/format/record.ts';
import type { HistoryEntry, RunStore } from '../log/stores/runStore.ts';
import { actorOf, isModelOutcome, stepTiming, turnState, type StepTiming } from './stepTiming.ts';

/** Records read at a time while looking for a turn's edges (a turn of one tool call is four records). */
const WINDOW = 16;
/** Records looked through at most on each side of a record for its turn's edges. */
const MAX_SCAN = 4096;

/**
 * The timing of the turn that record `seq` belongs to: the records from its model answer up to the
 * next answer of the same agent. A record before the agent's first answer (the run's start) belongs
 * to the first turn. Null when no model answer is found near the record.
 */
export async function timingAt(store: RunStore, runId: string, seq: number): Promise<StepTiming | null> {
  const { lastSeq, status } = await store.summary(runId);
  const read = (from: number, to: number) => store.readHistory(runId, { from: Math.max(0, from), to: Math.min(lastSeq, to) });
  if (seq > lastSeq) throw new RecordNotFoundError(runId, seq, lastSeq);
  const [selected] = await read(seq, seq);
  if (!selected) return null;
  const actor = actorOf(selected);
  const mine = (entry: HistoryEntry) => actorOf(entry) === actor;

  // Back to the turn's model answer, and the record of the same agent before it.
  let answer: HistoryEntry | undefined;
  let previous: HistoryEntry | undefined;
  for (let to = seq; to >= 0 && seq - to < MAX_SCAN && !previous; to -= WINDOW) {
    const entries = (await read(to - WINDOW + 1, to)).filter(mine).reverse();
    for (const entry of entries) {
      if (answer) {
        previous = entry;
        break;
      }
      if (isModelOutcome(entry)) answer = entry;
    }
  }
  let after: HistoryEntry[] = [];
  if (!answer) {
    // Before the agent's first answer: the first turn.
    for (let from = seq + 1; from <= lastSeq && from - seq < MAX_SCAN && !answer; from += WINDOW) {
      const entries = (await read(from, from + WINDOW - 1)).filter(mine);
      const index = entries.findIndex(isModelOutcome);
      if (index >= 0) {
        answer = entries[index];
        after = entries.slice(index + 1);
      }
    }
    if (!answer) return null;
    previous = undefined;
    const before = (await read(answer.seq - WINDOW, answer.seq - 1)).filter(mine);
    previous = before.at(-1);
  }

  // Forward to the record before the next answer.
  const records: HistoryEntry[] = [answer];
  let complete = false;
  let next = answer.seq + 1;
  let pending = after;
  for (;;) {
    if (pending.length === 0) {
      if (next > lastSeq || next - answer.seq > MAX_SCAN) break;
      pending = (await read(next, next + WINDOW - 1)).filter(mine);
      next += WINDOW;
      if (pending.length === 0) continue;
    }
    const index = pending.findIndex(isModelOutcome);
    if (index >= 0) {
      records.push(...pending.slice(0, index));
      complete = true;
      break;
    }
    records.push(...pending);
    next = Math.max(next, pending.at(-1)!.seq + 1);
    pending = [];
  }
  if (!complete && !['running', 'waiting'].includes(status)) complete = true;

  const doc = await stateAt(store, runId, answer.seq);
  const agent = persistedAgents(doc as object).find((candidate) => (candidate.path ?? '') === actor);
  const turn = turnState(agent?.snapshot.context as Json | undefined, answer.eventType.startsWith('xstate.error.'));
  return stepTiming(previous, records, turn, complete, Date.now());
}
