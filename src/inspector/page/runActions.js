import { postJson, runPath } from './api.js';
import { el } from './render.js';

/** Words for the kinds of failure a run's reason starts with (`<kind>: <detail>`). */
const FAILURES = {
  error: 'an error stopped it',
  fitness: 'a fitness check failed',
};

/** A failed run's banner: what kind of failure it was, and the cause the log records. */
export function failureBanner(summary) {
  if (summary.status !== 'failed') return '';
  const reason = summary.reason ?? '';
  const colon = reason.indexOf(': ');
  const kind = colon > 0 ? reason.slice(0, colon) : '';
  const detail = colon > 0 ? reason.slice(colon + 2) : reason;
  return el('div', { class: 'banner banner-failed', role: 'alert' },
    el('strong', {}, `This run failed${FAILURES[kind] ? `: ${FAILURES[kind]}` : kind ? ` (${kind.replace(/_/g, ' ')})` : ''}.`),
    el('div', { class: 'banner-cause' }, detail || 'The log records no cause.'));
}

const CANCELLABLE = new Set(['created', 'running', 'waiting']);

/** The Cancel button of a run not ended: it stops the run wherever it runs (this process, another, or none). */
export function cancelButton(runId, summary, ui) {
  if (!CANCELLABLE.has(summary.status)) return '';
  const note = el('span', { class: 'approval-status' }, ui.cancelNote ?? '');
  const button = el('button', {
    class: 'cancel-run',
    disabled: !ui.canCancel || ui.cancelling,
    title: ui.canCancel ? 'Cancel this run; the log records it cancelled' : 'This inspector was started without actions',
    onclick: async () => {
      ui.cancelling = true;
      button.disabled = true;
      note.textContent = ui.cancelNote = 'Cancelling…';
      try {
        const { status } = await postJson(`${runPath(runId)}/cancel`, {});
        note.textContent = ui.cancelNote = status === 'cancelled' ? 'Cancelled.' : `Asked to cancel; the run is still ${status}.`;
      } catch (error) {
        note.textContent = ui.cancelNote = `${error.name}: ${error.message}`;
        note.className = 'approval-status error';
      } finally {
        ui.cancelling = false;
        button.disabled = false;
      }
    },
  }, 'Cancel run');
  return el('span', { class: 'run-actions' }, button, note);
}

/** A fork that was never started: it says so and starts it, with the model chosen here. */
export function startPanel(runId, header, summary, ui) {
  if (summary.status !== 'created') return '';
  const model = el('input', { type: 'text', class: 'start-model', value: ui.model ?? header.model.model, 'aria-label': 'Model', list: 'start-models', oninput: () => (ui.model = model.value) });
  const models = el('datalist', { id: 'start-models' }, [...new Set([header.model.model, ...(ui.models ?? [])])].map((name) => el('option', { value: name })));
  const note = el('span', { class: 'approval-status' });
  const button = el('button', {
    class: 'start-run',
    disabled: !ui.canResume,
    title: ui.canResume ? 'Start this fork in the inspector process' : 'This inspector was started without actions',
    onclick: async () => {
      button.disabled = true;
      note.textContent = 'Starting…';
      try {
        const chosen = model.value.trim();
        await postJson(`${runPath(runId)}/resume`, chosen && chosen !== header.model.model ? { model: chosen } : {});
        note.textContent = 'Started.';
      } catch (error) {
        note.textContent = `${error.name}: ${error.message}`;
        note.className = 'approval-status error';
        button.disabled = false;
      }
    },
  }, 'Start');
  return el('div', { class: 'banner banner-created' },
    el('strong', {}, 'This fork has not started.'),
    el('span', { class: 'muted' }, ` Forked from record ${header.parent?.seq ?? '?'}; nothing runs it until it is started.`),
    el('div', { class: 'start-box' }, el('label', {}, 'Model ', model), models, button, note));
}
