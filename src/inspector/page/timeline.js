import { getJson, runPath } from './api.js';
import { el } from './render.js';
import { virtualList } from './virtualList.js';

const ROW_HEIGHT = 26;
/** Rows asked for beyond those drawn, on each side, when nothing narrows the timeline. */
const MARGIN = 32;
const KINDS = [
  ['', 'every kind'],
  ['model', 'model turns'],
  ['tool', 'tool calls'],
  ['approval', 'approvals'],
  ['fitness', 'fitness checks'],
  ['compaction', 'compactions'],
  ['run', 'run events'],
  ['error', 'errors'],
  ['start', 'start'],
];

/** The first index of a sorted array whose value is at least `value`. */
function lowerBound(sorted, value) {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The run's records as a virtualized list, narrowed by kind, tool, state and text on the server. Rows
 * are fetched as they scroll into view and kept by seq (a record never changes); `onPick(seq)` is
 * called when one is clicked.
 */
export function openTimeline(runId, { onPick, selected }) {
  const cache = new Map();
  const loading = new Set();
  /** The ranges of rows asked for and not yet answered, when nothing narrows the timeline. */
  const asking = [];
  const filter = { text: '', kind: '', tool: '', state: '' };
  let lastSeq = -1;
  /** Seqs of the records that match the filter, or null when nothing narrows the list. */
  let matches = null;
  let matchesAsked = 0;
  let alive = true;
  let refreshTimer;

  const count = el('span', { class: 'muted small timeline-count' });
  const text = el('input', { type: 'search', class: 'record-search', placeholder: 'Search records', 'aria-label': 'Search records' });
  const kind = el('select', { class: 'kind-filter', 'aria-label': 'Kind' }, KINDS.map(([value, label]) => el('option', { value }, label)));
  const tool = el('select', { class: 'tool-filter', 'aria-label': 'Tool' }, el('option', { value: '' }, 'any tool'));
  const state = el('select', { class: 'state-filter', 'aria-label': 'State' }, el('option', { value: '' }, 'any state'));
  const list = virtualList({ rowHeight: ROW_HEIGHT, tag: 'ol', className: 'timeline', renderRow, updateRow, onWindow: load, overscan: 10 });

  let typing;
  text.addEventListener('input', () => {
    clearTimeout(typing);
    typing = setTimeout(() => setFilter('text', text.value.trim()), 200);
  });
  kind.addEventListener('change', () => setFilter('kind', kind.value));
  tool.addEventListener('change', () => setFilter('tool', tool.value));
  state.addEventListener('change', () => setFilter('state', state.value));

  const filtering = () => Boolean(filter.text || filter.kind || filter.tool || filter.state);
  const query = () => {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(filter)) if (value) params.set(key, value);
    return params;
  };
  const seqAt = (index) => (matches ? matches[index] : index);
  const indexOf = (seq) => {
    if (!matches) return seq <= lastSeq ? seq : -1;
    const index = lowerBound(matches, seq);
    return matches[index] === seq ? index : -1;
  };

  function renderRow(index) {
    const seq = seqAt(index);
    const row = cache.get(seq);
    const item = el('li', { dataset: { seq: String(seq) }, class: `${row ? `kind-${row.kind}${row.status ? ` status-${row.status}` : ''}` : 'pending'}${seq === selected() ? ' selected' : ''}` },
      el('button', { onclick: () => onPick(seq), title: row ? row.label : '' },
        el('span', { class: 'seq' }, String(seq)),
        el('span', { class: 'ev' }, row ? row.label : '…'),
        el('span', { class: 'st' }, row ? row.state : '')));
    return item;
  }

  function updateRow(item, index) {
    item.classList.toggle('selected', seqAt(index) === selected());
  }

  function setFacets(facets) {
    const fill = (select, values, none) => {
      const current = select.value;
      if (select.options.length - 1 === values.length) return;
      select.replaceChildren(el('option', { value: '' }, none), ...values.map((value) => el('option', { value, selected: value === current }, value)));
    };
    tool.dataset.loaded = 'true';
    fill(tool, facets.tools, 'any tool');
    fill(state, facets.states, 'any state');
  }

  /** Draws the rows that were waiting for their data and now have it, in place; the others stay as drawn. */
  function fillPending() {
    for (const item of list.element.querySelectorAll('li.pending')) {
      const seq = Number(item.dataset.seq);
      if (!cache.has(seq)) continue;
      const index = indexOf(seq);
      if (index >= 0) item.replaceWith(renderRow(index));
    }
  }

  function take(answer) {
    for (const row of answer.rows) cache.set(row.seq, row);
  }

  let facetsAsked = false;
  /** Fills the tool and state filters with what the run's records name (the server reads them all once). */
  async function loadFacets() {
    if (facetsAsked) return;
    facetsAsked = true;
    try {
      const answer = await getJson(`${runPath(runId)}/facets`);
      if (alive) setFacets(answer);
    } catch (error) {
      count.textContent = `Could not read the run's tools and states: ${error.message}`;
    } finally {
      // A live run may name more later: asked again when a filter is opened.
      facetsAsked = false;
    }
  }
  tool.addEventListener('focus', loadFacets);
  state.addEventListener('focus', loadFacets);

  async function fetchRows(key, params) {
    if (loading.has(key)) return;
    loading.add(key);
    try {
      const answer = await getJson(`${runPath(runId)}/records?${params}`);
      if (!alive) return;
      take(answer);
      fillPending();
      list.render();
    } catch (error) {
      count.textContent = `Could not read records: ${error.message}`;
    } finally {
      loading.delete(key);
    }
  }

  /** The seqs from `from` to `to` less those known at either end, as [from, to] (from > to when all are known). */
  const unknown = (from, to) => {
    while (from <= to && cache.has(from)) from++;
    while (to >= from && cache.has(to)) to--;
    return [from, to];
  };

  function load(first, last) {
    if (last < first) return;
    if (!matches) {
      // One request for what is drawn and not known, with a margin for scrolling on: after a jump,
      // the rows on screen come in one answer of about a hundred rows.
      const [from, to] = unknown(first, Math.min(last, lastSeq));
      if (from > to || asking.some(([a, b]) => a <= from && to <= b)) return;
      const [askFrom, askTo] = unknown(Math.max(0, from - MARGIN), Math.min(lastSeq, to + MARGIN));
      const range = [askFrom, askTo];
      asking.push(range);
      void fetchRows(`${askFrom}-${askTo}`, new URLSearchParams({ from: String(askFrom), to: String(askTo) }))
        .finally(() => asking.splice(asking.indexOf(range), 1));
      return;
    }
    const wanted = matches.slice(first, last + 1).filter((seq) => !cache.has(seq));
    if (wanted.length === 0) return;
    const params = query();
    params.set('from', String(wanted[0]));
    params.set('to', String(wanted.at(-1)));
    void fetchRows(`${params}`, params);
  }

  function showCount() {
    count.textContent = matches ? `${matches.length} of ${lastSeq + 1} records` : `${lastSeq + 1} records`;
  }

  /** Asks for the seqs that match the filter; a newer question wins over an older one. */
  async function refreshMatches(reveal) {
    const asked = ++matchesAsked;
    if (!filtering()) {
      matches = null;
      list.setCount(lastSeq + 1);
      showCount();
      reveal ? revealSeq(selected()) : list.render();
      return;
    }
    const params = query();
    params.set('from', '0');
    params.set('to', '0');
    try {
      const answer = await getJson(`${runPath(runId)}/records?${params}`);
      if (!alive || asked !== matchesAsked) return;
      take(answer);
      matches = answer.matches;
      list.setCount(matches.length);
      showCount();
      if (reveal && indexOf(selected()) >= 0) revealSeq(selected());
      else if (reveal) {
        list.element.scrollTop = 0;
        list.render();
      } else list.render();
    } catch (error) {
      count.textContent = `Could not search: ${error.message}`;
    }
  }

  function setFilter(key, value) {
    if (filter[key] === value) return;
    filter[key] = value;
    void refreshMatches(true);
  }

  function revealSeq(seq) {
    const index = indexOf(seq);
    if (index >= 0) list.reveal(index);
    else list.render();
  }

  return {
    element: el('section', { class: 'panel timeline-panel' },
      el('div', { class: 'timeline-filters' }, text, kind, tool, state),
      count,
      list.element),
    /** The run now ends at `seq`: unfiltered, the list grows; filtered, the matches are asked again (at most every half second). */
    setLast(seq, follow) {
      if (seq === lastSeq) return;
      lastSeq = seq;
      if (!matches) {
        list.setCount(lastSeq + 1);
        showCount();
        if (follow) list.scrollToEnd();
        else list.render();
      } else if (!refreshTimer) {
        refreshTimer = setTimeout(() => {
          refreshTimer = undefined;
          void refreshMatches(follow);
        }, 500);
      }
    },
    loadFacets,
    /** Narrows the list to the records spent in a state (its path below the machine's root, `execute`); '' shows every state. */
    filterState(path) {
      if (path && ![...state.options].some((option) => option.value === path)) state.append(el('option', { value: path }, path));
      state.value = path;
      setFilter('state', path);
    },
    /** Keeps a row that came with a record's view, so that the selected row is drawn with its record. */
    put(row) {
      if (!row || cache.has(row.seq)) return;
      cache.set(row.seq, row);
      fillPending();
    },
    /** Marks `seq` as selected and scrolls it into view. */
    select(seq) {
      revealSeq(seq);
    },
    /** The seq `step` matching records away from `seq` (every record when nothing narrows the list). */
    step(seq, step) {
      if (!matches) return seq + step;
      const index = lowerBound(matches, seq);
      const at = matches[index] === seq ? index + step : step > 0 ? index : index - 1;
      return matches[Math.max(0, Math.min(matches.length - 1, at))] ?? seq;
    },
    close() {
      alive = false;
      clearTimeout(refreshTimer);
      clearTimeout(typing);
    },
  };
}
