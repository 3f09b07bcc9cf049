import { getJson } from './api.js';
import { el, formatAgo, formatCost, formatTokens, shortId, statusBadge } from './render.js';
import { openRunView } from './runView.js';
import { signedIn } from './signIn.js';

const app = document.getElementById('app');
const crumbs = document.getElementById('crumbs');
let leave = () => {};

const STATUSES = ['created', 'running', 'waiting', 'done', 'failed', 'halted', 'cancelled'];
const filters = { status: '', agent: '' };

function orderWithLineage(runs) {
  const byId = new Map(runs.map((run) => [run.runId, run]));
  const children = new Map();
  const roots = [];
  for (const run of runs) {
    const parentId = run.parent?.runId;
    if (parentId && byId.has(parentId)) {
      if (!children.has(parentId)) children.set(parentId, []);
      children.get(parentId).push(run);
    } else roots.push(run);
  }
  const out = [];
  const visit = (run, depth) => {
    out.push({ run, depth });
    for (const child of children.get(run.runId) ?? []) visit(child, depth + 1);
  };
  roots.forEach((run) => visit(run, 0));
  return out;
}

function runRow({ run, depth }) {
  const link = el('a', { href: `#/runs/${encodeURIComponent(run.runId)}`, class: 'run-link', title: run.runId }, shortId(run.runId));
  const lineage = run.parent
    ? el('a', { href: `#/runs/${encodeURIComponent(run.parent.runId)}`, class: 'muted small' }, `fork of ${shortId(run.parent.runId)} @ ${run.parent.seq}`)
    : '';
  return el('tr', { class: 'run-row', dataset: { runId: run.runId } },
    el('td', {}, el('div', { class: 'lineage', style: `padding-left:${depth * 1.25}rem` }, depth > 0 ? el('span', { class: 'fork-mark' }, '↳ ') : '', link)),
    el('td', run.reason ? { title: run.reason } : {}, statusBadge(run.status)),
    el('td', {}, run.agentId),
    el('td', { class: 'num' }, String(run.steps)),
    el('td', { class: 'num', title: `${run.inputTokens} in / ${run.outputTokens} out` }, `${formatTokens(run.inputTokens)} / ${formatTokens(run.outputTokens)}`),
    el('td', { class: 'num' }, formatCost(run.costUsd)),
    el('td', { title: run.updatedAt }, formatAgo(run.updatedAt)),
    el('td', {}, lineage),
  );
}

function showRunsList() {
  crumbs.replaceChildren(el('span', {}, 'Runs'));
  const tbody = el('tbody');
  const note = el('p', { class: 'muted' });
  const status = el('select', { 'aria-label': 'Status', onchange: () => { filters.status = status.value; refresh(); } },
    el('option', { value: '' }, 'any status'), STATUSES.map((s) => el('option', { value: s, selected: filters.status === s }, s)));
  const agent = el('input', { type: 'search', placeholder: 'agent id', value: filters.agent, 'aria-label': 'Agent', onchange: () => { filters.agent = agent.value.trim(); refresh(); } });
  app.replaceChildren(
    el('section', { class: 'panel' },
      el('div', { class: 'panel-head' }, el('h1', {}, 'Runs'), el('div', { class: 'filters' }, status, agent)),
      el('table', { class: 'runs' },
        el('thead', {}, el('tr', {}, ['Run', 'Status', 'Agent', 'Steps', 'Tokens in / out', 'Cost', 'Updated', 'Lineage'].map((h) => el('th', {}, h)))),
        tbody),
      note),
  );
  let alive = true;
  let timer;
  async function refresh() {
    clearTimeout(timer);
    const query = new URLSearchParams();
    if (filters.status) query.set('status', filters.status);
    if (filters.agent) query.set('agent', filters.agent);
    try {
      const runs = await getJson(`/api/runs?${query}`);
      if (!alive) return;
      tbody.replaceChildren(...orderWithLineage(runs).map(runRow));
      note.textContent = runs.length === 0 ? 'No runs in this store yet. Start one with `npx statecraft run`.' : '';
    } catch (error) {
      if (alive) note.textContent = `Could not list runs: ${error.message}`;
    }
    if (alive) timer = setTimeout(refresh, 3000);
  }
  refresh();
  return () => {
    alive = false;
    clearTimeout(timer);
  };
}

function route() {
  leave();
  const match = /^#\/runs\/(.+)$/.exec(location.hash);
  leave = match ? openRunView(app, crumbs, decodeURIComponent(match[1])) : showRunsList();
}

signedIn(app, document.getElementById('account')).then(() => {
  window.addEventListener('hashchange', route);
  route();
});
