import { getJson, getText, openEvents, runPath } from './api.js';
import { activeStateIds, el, formatCost, formatTokens, shortId, stateLabel, statusBadge } from './render.js';
import { approvalsPanel, forkPanel, messagesPanel, recordPanels, stepHeading } from './stepPanels.js';

const ACTIVE_STATUSES = new Set(['running', 'waiting']);

function inlineSvg(text) {
  const doc = new DOMParser().parseFromString(text, 'image/svg+xml');
  const svg = document.importNode(doc.documentElement, true);
  svg.removeAttribute('width');
  svg.removeAttribute('height');
  return svg;
}

/** Opens the view of one run in `app`; returns a function that tears it down. */
export function openRunView(app, crumbs, runId) {
  const s = { header: null, summary: null, history: [], items: [], view: null, loaded: null, wanted: null, busy: false, following: true, deltas: '', canAct: false };
  const open = { event: new Set(), context: new Set() };
  let alive = true;
  let source;

  crumbs.replaceChildren(el('a', { href: '#/' }, 'Runs'), el('span', { class: 'sep' }, ' / '), el('span', { title: runId }, shortId(runId)));
  const head = el('section', { class: 'run-head' });
  const diagram = el('div', { class: 'diagram', id: 'diagram' }, el('p', { class: 'muted' }, 'Drawing the statechart…'));
  const slider = el('input', { type: 'range', id: 'seq-slider', min: '0', max: '0', value: '0', 'aria-label': 'Record', oninput: () => goTo(Number(slider.value)) });
  const position = el('span', { class: 'position' });
  const follow = el('button', { class: 'follow', hidden: true, onclick: () => goTo(latest()) }, 'Follow latest');
  const timeline = el('ol', { class: 'timeline' });
  const stepBox = el('div', { class: 'step' }, el('p', { class: 'muted' }, 'Loading…'));
  app.replaceChildren(
    head,
    el('div', { class: 'run-grid' },
      el('div', { class: 'left' },
        el('section', { class: 'panel' }, el('h3', {}, 'Statechart'), diagram),
        el('section', { class: 'panel' },
          el('div', { class: 'scrub' },
            el('button', { class: 'step-btn', title: 'Previous record (←)', onclick: () => goTo((s.wanted ?? 0) - 1) }, '◀'),
            slider,
            el('button', { class: 'step-btn', title: 'Next record (→)', onclick: () => goTo((s.wanted ?? 0) + 1) }, '▶'),
            position, follow),
          timeline)),
      el('div', { class: 'right' }, stepBox)),
  );

  const latest = () => s.history.length - 1;

  function renderHead() {
    const { summary, header } = s;
    head.replaceChildren(
      el('div', { class: 'run-title' }, el('h1', { title: runId }, `Run ${shortId(runId)}`), statusBadge(summary.status),
        ACTIVE_STATUSES.has(summary.status) ? el('span', { class: 'live-dot', title: 'following the run live' }, 'live') : ''),
      el('div', { class: 'chips' },
        el('span', { class: 'chip' }, el('span', { class: 'muted' }, 'agent '), `${header.agent.id}@${header.agent.version}`),
        el('span', { class: 'chip' }, el('span', { class: 'muted' }, 'model '), `${header.model.provider}/${header.model.model}`),
        el('span', { class: 'chip' }, el('span', { class: 'muted' }, 'steps '), String(summary.steps)),
        el('span', { class: 'chip' }, el('span', { class: 'muted' }, 'tokens '), `${formatTokens(summary.inputTokens)} in / ${formatTokens(summary.outputTokens)} out`),
        el('span', { class: 'chip' }, el('span', { class: 'muted' }, 'cost '), formatCost(summary.costUsd)),
        header.parent ? el('a', { class: 'chip', href: `#/runs/${encodeURIComponent(header.parent.runId)}` }, `fork of ${shortId(header.parent.runId)} @ record ${header.parent.seq}`) : ''),
      summary.reason ? el('p', { class: 'muted small' }, summary.reason) : '',
    );
  }

  function timelineItem(entry) {
    return el('li', { dataset: { seq: String(entry.seq) } },
      el('button', { onclick: () => goTo(entry.seq) },
        el('span', { class: 'seq' }, String(entry.seq)),
        el('span', { class: 'ev' }, entry.eventType),
        el('span', { class: 'st' }, stateLabel(entry.state))));
  }

  function addEntries(entries) {
    for (const entry of entries) {
      if (entry.seq !== s.history.length) continue;
      s.history.push(entry);
      const item = timelineItem(entry);
      s.items.push(item);
      timeline.append(item);
    }
    slider.max = String(Math.max(0, latest()));
  }

  function highlight(value) {
    const svg = diagram.querySelector('svg');
    if (!svg) return;
    svg.querySelectorAll('.active, .current').forEach((node) => node.classList.remove('active', 'current'));
    const ids = activeStateIds(s.header.machine.id, value);
    ids.forEach((id, index) => {
      const node = svg.querySelector(`[id="${CSS.escape(`state:${id}`)}"]`);
      if (!node) return;
      node.classList.add('active');
      if (!ids.some((other, j) => j !== index && other.startsWith(`${id}.`))) node.classList.add('current');
    });
  }

  function renderStep() {
    const view = s.view;
    if (!view) return;
    const isLatest = view.seq === latest();
    const streaming = isLatest && ACTIVE_STATUSES.has(s.summary.status) ? s.deltas : '';
    stepBox.replaceChildren(
      el('section', { class: 'panel' }, stepHeading(view, latest()), forkPanel(runId, view.seq, s.canAct)),
      isLatest && view.pending.length > 0 ? approvalsPanel(runId, view, s.canAct) : '',
      messagesPanel(view, streaming),
      ...recordPanels(view, open),
    );
    stepBox.dataset.seq = String(view.seq);
    highlight(view.value);
  }

  function updatePosition(seq) {
    slider.value = String(seq);
    position.textContent = `${seq} / ${latest()}`;
    follow.hidden = s.following || !ACTIVE_STATUSES.has(s.summary?.status);
    s.items.forEach((item, i) => item.classList.toggle('selected', i === seq));
    const item = s.items[seq];
    if (item) {
      const top = item.offsetTop;
      if (top < timeline.scrollTop) timeline.scrollTop = top;
      else if (top + item.offsetHeight > timeline.scrollTop + timeline.clientHeight) timeline.scrollTop = top + item.offsetHeight - timeline.clientHeight;
    }
  }

  async function goTo(seq) {
    if (!alive || s.history.length === 0) return;
    seq = Math.max(0, Math.min(latest(), seq));
    s.following = seq === latest();
    s.wanted = seq;
    updatePosition(seq);
    if (s.busy) return;
    s.busy = true;
    try {
      while (alive && s.wanted !== s.loaded) {
        const target = s.wanted;
        try {
          s.view = await getJson(`${runPath(runId)}/at/${target}`);
        } catch (error) {
          stepBox.replaceChildren(el('p', { class: 'error' }, `Could not load record ${target}: ${error.message}`));
        }
        s.loaded = target;
        if (alive && s.wanted === target) renderStep();
      }
    } finally {
      s.busy = false;
    }
  }

  function onKey(event) {
    const target = event.target;
    if (target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement || (target instanceof HTMLInputElement && target.type !== 'range')) return;
    if (target === slider) return;
    const moves = { ArrowLeft: -1, ArrowRight: 1 };
    if (event.key in moves) goTo((s.wanted ?? 0) + moves[event.key]);
    else if (event.key === 'Home') goTo(0);
    else if (event.key === 'End') goTo(latest());
    else return;
    event.preventDefault();
  }
  document.addEventListener('keydown', onKey);

  function listen() {
    source = openEvents(`${runPath(runId)}/stream?after=${latest()}`);
    source.addEventListener('record', (message) => {
      const entry = JSON.parse(message.data);
      const wasFollowing = s.following;
      if (entry.eventType === 'xstate.done.actor.callModel') s.deltas = '';
      addEntries([entry]);
      if (wasFollowing) goTo(latest());
      else {
        updatePosition(s.wanted);
        renderStep();
      }
    });
    source.addEventListener('summary', (message) => {
      s.summary = JSON.parse(message.data);
      renderHead();
      follow.hidden = s.following || !ACTIVE_STATUSES.has(s.summary.status);
    });
    source.addEventListener('delta', (message) => {
      s.deltas += JSON.parse(message.data).text;
      const box = stepBox.querySelector('.streaming .msg-content');
      if (box) box.textContent = s.deltas;
      else if (s.following) renderStep();
    });
  }

  (async () => {
    try {
      const [{ header, summary }, history, config] = await Promise.all([getJson(runPath(runId)), getJson(`${runPath(runId)}/history`), getJson('/api/config')]);
      if (!alive) return;
      Object.assign(s, { header, summary, canAct: config.actions });
      renderHead();
      addEntries(history);
      listen();
      getText(`/api/machines/${encodeURIComponent(header.machine.id)}.svg`)
        .then((text) => {
          if (!alive) return;
          diagram.replaceChildren(inlineSvg(text));
          if (s.view) highlight(s.view.value);
        })
        .catch((error) => diagram.replaceChildren(el('p', { class: 'muted' }, `No diagram: ${error.message}`)));
      if (history.length === 0) stepBox.replaceChildren(el('p', { class: 'muted' }, 'This run has no records yet.'));
      else await goTo(latest());
    } catch (error) {
      if (alive) app.replaceChildren(el('p', { class: 'error' }, `Could not open run ${runId}: ${error.message}`));
    }
  })();

  return () => {
    alive = false;
    source?.close();
    document.removeEventListener('keydown', onKey);
  };
}
