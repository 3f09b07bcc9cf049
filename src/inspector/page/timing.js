import { getJson, runPath } from './api.js';
import { el } from './render.js';

/** Turns' timings kept, by their first record: a turn the run has gone past never changes. */
const KEPT = 32;

const duration = (ms) => (ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`);

const STATUS_WORDS = {
  ok: '',
  error: 'failed',
  running: 'running',
  unfinished: 'never finished',
  interrupted: 'interrupted',
  waiting: 'still waiting',
  approved: 'approved',
  rejected: 'rejected',
  expired: 'deadline passed',
  denied: 'denied',
  invalid: 'invalid',
};

/** What a bar says beside it: its time, its outcome, and who decided. */
function spanNote(span) {
  const took = duration(span.durationMs ?? span.end - span.start);
  const words = [STATUS_WORDS[span.status] ?? span.status, span.by ? `by ${span.by}` : ''].filter(Boolean).join(' ');
  return words ? `${took} · ${words}` : took;
}

/** A step's waterfall: one row per span, its bar placed on the step's time from start to end. */
export function timingPanel(timing, onPick) {
  const total = Math.max(1, timing.durationMs);
  const rows = timing.spans.map((span) => {
    const bar = el('span', { class: 'span-bar' });
    bar.style.left = `${(100 * span.start) / total}%`;
    bar.style.width = `${(100 * Math.max(0, span.end - span.start)) / total}%`;
    const title = [span.label, spanNote(span), span.error ?? '', `record ${span.seq}`].filter(Boolean).join('\n');
    return el('li', {
      class: `span kind-${span.kind} status-${span.status}`,
      dataset: { kind: span.kind, status: span.status, start: String(span.start), end: String(span.end), ...(span.callId ? { callId: span.callId } : {}) },
      title,
      onclick: () => onPick(span.seq),
    },
      el('span', { class: 'span-label' }, span.label),
      el('span', { class: 'span-track' }, bar),
      el('span', { class: 'span-note' }, spanNote(span)),
      span.error ? el('span', { class: 'span-error' }, span.error) : '');
  });
  return el('section', { class: 'panel timing-panel', dataset: { step: String(timing.step), from: String(timing.fromSeq), to: String(timing.toSeq) } },
    el('h3', {}, `Step ${timing.step} timing`,
      el('span', { class: 'muted' }, ` · ${duration(timing.durationMs)}${timing.complete ? '' : ' so far'} · records ${timing.fromSeq} to ${timing.toSeq}${timing.actor ? ` · in ${timing.actor}` : ''}`)),
    el('ol', { class: 'waterfall' }, rows),
    el('div', { class: 'waterfall-axis muted small' }, el('span', {}), el('span', { class: 'axis-track' }, el('span', {}, '0'), el('span', {}, duration(timing.durationMs))), el('span', {})),
    timing.more ? el('p', { class: 'muted small' }, `and ${timing.more} more`) : '');
}

/**
 * The timing of the step the record shown belongs to, asked for once the record is drawn: a box that
 * `show(seq)` fills. Turns the run has gone past are kept, so scrubbing within one asks nothing.
 */
export function openTiming(runId, { onPick }) {
  const element = el('div', { class: 'timing-box' });
  const kept = [];
  let wanted = -1;
  const keptFor = (seq) => kept.find((timing) => timing.complete && seq >= timing.fromSeq && seq <= timing.toSeq);
  const draw = (timing) => element.replaceChildren(timing && timing.spans.length ? timingPanel(timing, onPick) : '');

  /** Shows the timing of `seq`'s step: `given` when the record's view brought it, else kept or asked for. */
  async function show(seq, given) {
    wanted = seq;
    const known = given === undefined ? keptFor(seq) : undefined;
    if (known) return draw(known);
    element.classList.add('stale');
    try {
      const timing = given === undefined ? await getJson(`${runPath(runId)}/at/${seq}/timing`) : given;
      if (timing?.complete && !keptFor(seq)) {
        kept.push(timing);
        if (kept.length > KEPT) kept.shift();
      }
      if (wanted === seq) draw(timing);
    } catch (error) {
      if (wanted === seq) element.replaceChildren(el('p', { class: 'muted small' }, `No timing for record ${seq}: ${error.message}`));
    } finally {
      if (wanted === seq) element.classList.remove('stale');
    }
  }
  return {
    element,
    show,
    /** True when the timing of `seq`'s step is kept: a record's view need not bring it. */
    has: (seq) => keptFor(seq) !== undefined,
  };
}
