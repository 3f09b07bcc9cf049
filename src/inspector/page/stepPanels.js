import { person, postJson, runPath } from './api.js';
import { el, formatTime, jsonTree, messageFull, pretty, stateLabel } from './render.js';

/** The indices of the messages a record's patch adds or changes. */
export const freshMessageIndices = (patch) => {
  const fresh = new Set();
  for (const op of patch) {
    const match = /^\/context\/messages\/(\d+)(\/|$)/.exec(op.path);
    if (match) fresh.add(Number(match[1]));
  }
  return fresh;
};

const chip = (label, value) => el('span', { class: 'chip' }, el('span', { class: 'muted' }, `${label} `), value);

/**
 * A usage as `120 in (100 cached) / 40 out (30 reasoning)`: the parts come from the turn's own usage
 * (the record's meta keeps only the totals), shown when the model reported some.
 */
function turnTokens(usage, detail) {
  const cached = detail?.cachedInputTokens ? ` (${detail.cachedInputTokens} cached)` : '';
  const reasoning = detail?.reasoningTokens ? ` (${detail.reasoningTokens} reasoning)` : '';
  return `${usage.inputTokens} in${cached} / ${usage.outputTokens} out${reasoning}`;
}

/** The heading of a step: record number, what happened in words, time, state and the record's meta. */
export function stepHeading(view, lastSeq) {
  const meta = view.meta ?? {};
  const row = view.row;
  return el('div', { class: 'step-head' },
    el('h2', {}, `Record ${view.seq}`, el('span', { class: 'muted' }, ` of ${lastSeq}`)),
    el('p', { class: `step-label${row ? ` kind-${row.kind}${row.status ? ` status-${row.status}` : ''}` : ''}` }, row ? row.label : `Record ${view.seq}`),
    el('div', { class: 'chips' },
      chip('state', el('code', { class: 'state-name' }, stateLabel(view.value))),
      chip('at', formatTime(view.time)),
      meta.model ? chip('model', meta.model) : '',
      meta.usage ? chip('tokens', turnTokens(meta.usage, view.event.output?.usage)) : '',
      view.context?.usage ? chip('run so far', `${turnTokens(view.context.usage, view.context.usage)}${typeof view.context.costUsd === 'number' ? ` · $${view.context.costUsd.toFixed(4)}` : ''}`) : '',
      meta.durationMs !== undefined ? chip('took', `${Math.round(meta.durationMs)} ms`) : '',
      view.keyframe ? chip('', 'keyframe') : ''));
}

/** One message whole, opened from the conversation. */
export function messagePanel(index, message, onClose) {
  return el('section', { class: 'panel open-message', dataset: { index: String(index) } },
    el('div', { class: 'panel-head' }, el('h3', {}, `Message ${index}`), el('button', { class: 'step-btn', title: 'Close', onclick: onClose }, '×')),
    messageFull(message));
}

/** Pending approvals with approve and reject controls; shown only for the run's latest record. */
export function approvalsPanel(runId, view, canAct) {
  const cards = view.pending.map((call) => {
    const status = el('div', { class: 'approval-status' });
    const reason = el('input', { type: 'text', class: 'reason', placeholder: 'Reason the model will read', 'aria-label': `Reason for rejecting ${call.callId}` });
    const buttons = [];
    const decide = async (verb) => {
      buttons.forEach((button) => (button.disabled = true));
      status.textContent = verb === 'approve' ? 'Approving…' : 'Rejecting…';
      status.className = 'approval-status';
      try {
        const which = { callId: call.callId, argsHash: call.argsHash, actor: call.actor ?? '', ...(person() ? { by: person() } : {}) };
        const body = verb === 'approve' ? which : { ...which, reason: reason.value.trim() || 'Rejected in the inspector.' };
        await postJson(`${runPath(runId)}/${verb}`, body);
        status.textContent = verb === 'approve' ? 'Approved: waiting for the run to record it.' : 'Rejected: waiting for the run to record it.';
        status.classList.add('ok');
      } catch (error) {
        status.textContent = `${error.name}: ${error.message}`;
        status.classList.add('error');
        buttons.forEach((button) => (button.disabled = false));
      }
    };
    buttons.push(
      el('button', { class: 'approve', disabled: !canAct, onclick: () => decide('approve') }, 'Approve'),
      el('button', { class: 'reject', disabled: !canAct, onclick: () => decide('reject') }, 'Reject'),
    );
    return el('div', { class: 'approval', dataset: { callId: call.callId } },
      el('div', { class: 'tool-call-head' }, el('strong', {}, call.tool), el('span', { class: 'muted' }, ` ${call.callId}${call.actor ? ` · in ${call.actor}` : ''}`)),
      el('pre', {}, pretty(call.arguments)),
      call.note ? el('p', { class: 'muted small' }, call.note) : '',
      el('div', { class: 'approval-actions' }, buttons[0], reason, buttons[1]),
      status);
  });
  return el('section', { class: 'panel approvals' },
    el('h3', {}, `Waiting for approval (${view.pending.length})`),
    canAct ? '' : el('p', { class: 'muted small' }, 'This inspector was started without actions: approve from `npx statecraft inspect` or the CLI.'),
    cards);
}

/** "Fork from this step", with an optional JSON patch applied to the context first. */
export function forkPanel(runId, seq, canAct) {
  const edit = el('textarea', { rows: 3, spellcheck: false, placeholder: '[{ "op": "replace", "path": "/messages/2/content", "value": "…" }]', 'aria-label': 'Context edit (JSON patch)' });
  const status = el('span', { class: 'approval-status' });
  const button = el('button', {
    class: 'fork',
    disabled: !canAct,
    title: canAct ? 'Start a new run from this record' : 'This inspector was started without actions',
    onclick: async () => {
      let patch;
      try {
        patch = edit.value.trim() ? JSON.parse(edit.value) : undefined;
      } catch (error) {
        status.textContent = `The edit is not valid JSON: ${error.message}`;
        status.className = 'approval-status error';
        return;
      }
      button.disabled = true;
      status.textContent = 'Forking…';
      try {
        const { runId: forkId } = await postJson(`${runPath(runId)}/fork`, patch ? { seq, edit: patch } : { seq });
        location.hash = `#/runs/${encodeURIComponent(forkId)}`;
      } catch (error) {
        status.textContent = `${error.name}: ${error.message}`;
        status.className = 'approval-status error';
        button.disabled = false;
      }
    },
  }, `Fork from record ${seq}`);
  return el('div', { class: 'fork-box' }, button, status,
    el('details', {}, el('summary', { class: 'small' }, 'edit the context first'), edit));
}

/** The record's event in words (its raw form folded away), the step's timing, the patch and the context after it. */
export function recordPanels(view, open, timing = '') {
  const ops = view.patch.map((op) =>
    el('li', {}, el('span', { class: `op op-${op.op}` }, op.op), ' ', el('code', {}, op.path),
      op.from !== undefined ? el('span', { class: 'muted' }, ` from ${op.from}`) : '',
      'value' in op ? el('pre', { class: 'op-value' }, truncate(pretty(op.value))) : ''));
  return [
    el('section', { class: 'panel event-panel' }, el('h3', {}, 'Event'),
      el('p', { class: 'event-words' }, view.row ? view.row.label : 'A record without words: see its raw event.'),
      el('details', { class: 'raw-event', open: open.rawEvent ?? false, ontoggle: (event) => (open.rawEvent = event.currentTarget.open) },
        el('summary', { class: 'small muted' }, 'raw event'),
        el('p', { class: 'small' }, 'type ', el('code', { class: 'event-type' }, view.event.type)),
        jsonTree(view.event, open.event))),
    timing,
    el('section', { class: 'panel' }, el('h3', {}, `Patch (${view.patch.length} ops)`),
      view.patch.length ? el('ol', { class: 'patch' }, ops) : el('p', { class: 'muted' }, view.seq === 0 ? 'Record 0 is a keyframe: the initial snapshot.' : 'No change.')),
    el('section', { class: 'panel' }, el('h3', {}, 'Context'), el('p', { class: 'muted small' }, 'messages are shown in the conversation'), jsonTree(view.context, open.context)),
  ];
}

const truncate = (text) => (text.length > 4000 ? `${text.slice(0, 4000)}\n… (${text.length - 4000} more characters)` : text);
