import { getJson, getText, openEvents, runPath } from './api.js';
import { el, formatCost, formatTokens, shortId, statusBadge } from './render.js';
import { openAgentTree } from './agentTree.js';
import { openDiagram } from './diagramView.js';
import { openMessagePane } from './messagePane.js';
import { approvalsPanel, forkPanel, freshMessageIndices, messagePanel, recordPanels, stepHeading } from './stepPanels.js';
import { openTimeline } from './timeline.js';
import { openTiming } from './timing.js';
import { cancelButton, failureBanner, startPanel } from './runActions.js';

const ACTIVE_STATUSES = new Set(['running', 'waiting']);

/**
 * Opens the view of one run in `app`; returns a function that tears it down. The page holds what is
 * on screen only, whatever the run's length: the timeline and the conversation are virtualized lists
 * fed a window at a time, and the selected record comes from the server with a window of its messages.
 */
export function openRunView(app, crumbs, runId) {
  const ui = { canCancel: false, canResume: false };
  const s = { header: null, summary: null, lastSeq: -1, view: null, loaded: null, wanted: null, busy: false, following: true, deltas: '', canAct: false, openMessage: null };
  const open = { event: new Set(), context: new Set() };
  let alive = true;
  let source;

  crumbs.replaceChildren(el('a', { href: '#/' }, 'Runs'), el('span', { class: 'sep' }, ' / '), el('span', { title: runId }, shortId(runId)));
  const head = el('section', { class: 'run-head' });
  // A click on a state of the run's own chart narrows the timeline to the records spent in it.
  const chart = openDiagram({ onPickState: (path) => timeline.filterState(path) });
  const tree = openAgentTree({ onSelect: (entry) => showAgent(entry) });
  const slider = el('input', { type: 'range', id: 'seq-slider', min: '0', max: '0', value: '0', 'aria-label': 'Record', oninput: () => goTo(Number(slider.value)) });
  const position = el('span', { class: 'position' });
  const follow = el('button', { class: 'follow', hidden: true, onclick: () => goTo(latest()) }, 'Follow latest');
  const stepBox = el('div', { class: 'step' }, el('p', { class: 'muted' }, 'Loading…'));
  const timeline = openTimeline(runId, { onPick: (seq) => goTo(seq), selected: () => s.wanted });
  const openMessage = (index, message) => {
    s.openMessage = { index, message };
    renderStep();
  };
  let messages = openMessagePane(runId, { onOpen: openMessage });
  const timing = openTiming(runId, { onPick: (seq) => goTo(seq) });
  app.classList.add('run-page');
  app.replaceChildren(
    head,
    el('div', { class: 'run-grid' },
      el('div', { class: 'col col-timeline' },
        el('section', { class: 'panel scrub-panel' },
          el('div', { class: 'scrub' },
            el('button', { class: 'step-btn', title: 'Previous record (←)', onclick: () => goTo(timeline.step(s.wanted ?? 0, -1)) }, '◀'),
            slider,
            el('button', { class: 'step-btn', title: 'Next record (→)', onclick: () => goTo(timeline.step(s.wanted ?? 0, 1)) }, '▶'),
            position, follow)),
        timeline.element),
      el('div', { class: 'col col-record' }, stepBox),
      el('div', { class: 'col col-chat' },
        chart.element,
        tree.element,
        messages.element)),
  );

  const latest = () => s.lastSeq;

  function renderHead() {
    const { summary, header } = s;
    head.replaceChildren(
      el('div', { class: 'run-title' }, el('h1', { title: runId }, `Run ${shortId(runId)}`), statusBadge(summary.status),
        ACTIVE_STATUSES.has(summary.status) ? el('span', { class: 'live-dot', title: 'following the run live' }, 'live') : '',
        el('span', { class: 'chips' },
          el('span', { class: 'chip' }, el('span', { class: 'muted' }, 'agent '), `${header.agent.id}@${header.agent.version}`),
          el('span', { class: 'chip' }, el('span', { class: 'muted' }, 'model '), `${header.model.provider}/${header.model.model}`),
          el('span', { class: 'chip' }, el('span', { class: 'muted' }, 'steps '), String(summary.steps)),
          el('span', { class: 'chip' }, el('span', { class: 'muted' }, 'tokens '), `${formatTokens(summary.inputTokens)} in / ${formatTokens(summary.outputTokens)} out`),
          el('span', { class: 'chip' }, el('span', { class: 'muted' }, 'cost '), formatCost(summary.costUsd)),
          header.parent ? el('a', { class: 'chip', href: `#/runs/${encodeURIComponent(header.parent.runId)}` }, `fork of ${shortId(header.parent.runId)} @ record ${header.parent.seq}`) : ''),
        cancelButton(runId, summary, ui)),
      failureBanner(summary),
      startPanel(runId, header, summary, ui),
      summary.reason && summary.status !== 'failed' ? el('p', { class: 'muted small reason-line', title: summary.reason }, summary.reason) : '',
    );
  }

  function setLast(seq) {
    if (seq <= s.lastSeq) return;
    s.lastSeq = seq;
    slider.max = String(Math.max(0, seq));
    timeline.setLast(seq, s.following);
  }

  /** Highlights the state of the agent shown in the chart (the run's own, or an invoked one) at the record shown. */
  function highlight() {
    const entry = tree.current();
    if (entry?.running !== false) chart.highlight(entry && entry.path !== '' ? entry.value : s.view?.value);
    else chart.highlight(null);
  }

  // The chart shown, by agent ('' for the run's own): drawn from the machine recorded with the run.
  let charted = null;
  function loadChart(entry) {
    const agent = entry?.agent ?? '';
    if (charted === agent) return;
    charted = agent;
    const query = agent ? `?agent=${encodeURIComponent(agent)}` : '';
    getText(`${runPath(runId)}/diagram.svg${query}`)
      .then((text) => {
        if (!alive || charted !== agent) return;
        // The timeline holds the run's own states: only its chart narrows it.
        chart.load(text, agent ? `of ${agent}` : '', !agent);
        highlight();
      })
      .catch((error) => charted === agent && chart.clear(`No diagram: ${error.message}`));
  }

  /**
   * Shows the nearest record, at or before the one shown else after it, in which an agent that is not
   * running now ran: one spent in a state of the run's machine that invokes it.
   */
  let invokers;
  async function goToRunning(entry) {
    try {
      invokers ??= getJson(`${runPath(runId)}/invokers`);
      const states = (await invokers)[entry.agent] ?? [];
      const answers = await Promise.all(states.map((state) => getJson(`${runPath(runId)}/records?${new URLSearchParams({ state, from: '0', to: '0' })}`)));
      const seqs = answers.flatMap((answer) => answer.matches).sort((a, b) => a - b);
      const here = s.wanted ?? latest();
      const target = seqs.filter((seq) => seq <= here).at(-1) ?? seqs.find((seq) => seq > here);
      if (alive && target !== undefined && tree.selected() === entry.path) goTo(target);
    } catch (error) {
      console.warn(`Could not find where ${entry.agent} ran: ${error.message}`);
    }
  }

  /** What an empty conversation of a machine that invokes agents says: theirs are kept apart. */
  const invokedNote = () => (s.header?.invoked ? 'the agents it invokes keep their own: pick one under Agents' : '');

  /** Shows an agent's messages and chart; the timeline stays the run's. */
  function showAgent(entry, draw = true) {
    const fresh = openMessagePane(runId, { onOpen: openMessage, actor: entry.path, name: entry.path ? entry.name : '', emptyNote: entry.path ? '' : invokedNote() });
    messages.element.replaceWith(fresh.element);
    messages.close();
    messages = fresh;
    if (draw) loadChart(entry);
    if (entry.running === false) void goToRunning(entry);
    if (s.view) {
      messages.show(s.view, entry.path ? new Set() : freshMessageIndices(s.view.patch));
      messages.stream(streamingNow());
    }
  }

  const streamingNow = () => (tree.selected() === '' && s.view?.seq === latest() && ACTIVE_STATUSES.has(s.summary.status) ? s.deltas : '');

  function renderStep() {
    const view = s.view;
    if (!view) return;
    const isLatest = view.seq === latest();
    const opened = s.openMessage && s.openMessage.index < view.messageCount ? s.openMessage : null;
    stepBox.replaceChildren(
      el('section', { class: 'panel' }, stepHeading(view, latest()), forkPanel(runId, view.seq, s.canAct)),
      isLatest && view.pending.length > 0 ? approvalsPanel(runId, view, s.canAct) : '',
      opened ? messagePanel(opened.index, opened.message, () => ((s.openMessage = null), renderStep())) : '',
      ...recordPanels(view, open, timing.element),
    );
    stepBox.dataset.seq = String(view.seq);
    tree.show(s.header, view);
    highlight();
  }

  function updatePosition(seq) {
    slider.value = String(seq);
    position.textContent = `${seq} / ${latest()}`;
    follow.hidden = s.following || !ACTIVE_STATUSES.has(s.summary?.status);
    timeline.select(seq);
  }

  // Views of records before the latest, kept by their request, with the neighbours of the record
  // shown fetched ahead: a record never changes once written, so a step to the next or the previous
  // one is drawn without waiting for the server. The latest record's view is always asked afresh.
  const views = new Map();
  const VIEWS_KEPT = 64;
  const viewPath = (seq) => `${runPath(runId)}/at/${seq}?messages=${messages.wanted()}`;
  function fetchView(seq) {
    const path = viewPath(seq);
    const kept = views.get(path);
    if (kept) return kept;
    // The step's timing comes with the record, unless the page has it.
    const asked = getJson(timing.has(seq) ? path : `${path}&timing=1`);
    if (seq < latest()) {
      views.set(path, asked);
      asked.catch(() => views.delete(path));
      if (views.size > VIEWS_KEPT) views.delete(views.keys().next().value);
    }
    return asked;
  }
  function fetchAhead(seq) {
    for (const next of [timeline.step(seq, 1), timeline.step(seq, -1)]) {
      if (next !== seq && next >= 0 && next < latest()) fetchView(next).catch(() => {});
    }
  }

  async function goTo(seq) {
    if (!alive || latest() < 0) return;
    seq = Math.max(0, Math.min(latest(), seq));
    s.following = seq === latest();
    s.wanted = seq;
    // Asked before the position is drawn, so that the server starts on the record first.
    const asked = s.busy || seq === s.loaded ? undefined : fetchView(seq);
    updatePosition(seq);
    if (s.busy) return;
    s.busy = true;
    try {
      while (alive && s.wanted !== s.loaded) {
        const target = s.wanted;
        try {
          const view = await (target === seq && asked ? asked : fetchView(target));
          s.loaded = target;
          if (alive && s.wanted === target) {
            s.view = view;
            timeline.put(view.row);
            renderStep();
            messages.show(view, freshMessageIndices(view.patch));
            messages.stream(streamingNow());
            timing.show(target, view.timing);
            // After the record is drawn, and only if it is still the one wanted: a jump on drops its neighbours.
            setTimeout(() => alive && s.wanted === target && fetchAhead(target), 0);
          }
        } catch (error) {
          s.loaded = target;
          stepBox.replaceChildren(el('p', { class: 'error' }, `Could not load record ${target}: ${error.message}`));
        }
      }
    } finally {
      s.busy = false;
    }
  }

  function onKey(event) {
    const target = event.target;
    if (target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement || (target instanceof HTMLInputElement && target.type !== 'range')) return;
    if (target === slider) return;
    const moves = { ArrowLeft: -1, ArrowRight: 1, ArrowUp: -1, ArrowDown: 1 };
    if (event.key in moves) goTo(timeline.step(s.wanted ?? 0, moves[event.key]));
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
      if (entry.eventType === 'xstate.done.actor.callModel') s.deltas = '';
      setLast(entry.seq);
      if (s.following) goTo(latest());
      else updatePosition(s.wanted);
    });
    source.addEventListener('summary', (message) => {
      s.summary = JSON.parse(message.data);
      renderHead();
      setLast(s.summary.lastSeq);
      follow.hidden = s.following || !ACTIVE_STATUSES.has(s.summary.status);
    });
    source.addEventListener('delta', (message) => {
      s.deltas += JSON.parse(message.data).text;
      if (s.following) messages.stream(streamingNow());
    });
  }

  (async () => {
    try {
      const [{ header, summary }, config] = await Promise.all([getJson(runPath(runId)), getJson('/api/config')]);
      if (!alive) return;
      Object.assign(s, { header, summary, canAct: config.actions });
      if (header.invoked) showAgent({ path: '', agent: '' }, false);
      Object.assign(ui, { canCancel: config.cancel === true, canResume: config.resume === true });
      renderHead();
      setLast(summary.lastSeq);
      listen();
      if (summary.lastSeq < 0) stepBox.replaceChildren(el('p', { class: 'muted' }, 'This run has no records yet.'));
      else await goTo(latest());
      // After the first paint: the diagram.
      loadChart(null);
    } catch (error) {
      if (alive) app.replaceChildren(el('p', { class: 'error' }, `Could not open run ${runId}: ${error.message}`));
    }
  })();

  return () => {
    alive = false;
    source?.close();
    timeline.close();
    messages.close();
    app.classList.remove('run-page');
    document.removeEventListener('keydown', onKey);
  };
}
