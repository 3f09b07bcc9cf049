import { getJson, runPath } from './api.js';
import { el, messageCard } from './render.js';
import { virtualList } from './virtualList.js';

const ROW_HEIGHT = 84;
/** Messages fetched beyond the drawn ones, so that scrolling a little needs no request. */
const AHEAD = 40;

/**
 * The conversation at the selected record as a virtualized list of fixed-height cards (a card shows
 * the start of a long message; clicking it opens the whole message beside). While its end is in view,
 * the list stays at its end as messages arrive, tokens stream in or the record changes.
 */
export function openMessagePane(runId, { onOpen, actor = '', name = '', emptyNote = '' }) {
  let seq = -1;
  let total = 0;
  let fresh = new Set();
  let streaming = '';
  /** Messages of record `seq`, by index. */
  let cache = new Map();
  let following = true;
  let alive = true;
  const loading = new Set();

  const title = el('h3', {}, 'Messages');
  const list = virtualList({ rowHeight: ROW_HEIGHT, className: 'messages', renderRow, onWindow: load, overscan: 4 });
  list.element.addEventListener('scroll', () => {
    following = list.atEnd();
  });

  function renderRow(index) {
    if (index === total) {
      return el('div', { class: 'vrow' },
        el('div', { class: 'message msg-assistant streaming' }, el('div', { class: 'msg-role' }, 'assistant · streaming'), el('div', { class: 'msg-content' }, streaming)));
    }
    const message = cache.get(index);
    if (!message) return el('div', { class: 'vrow' }, el('div', { class: 'message pending', dataset: { index: String(index) } }, el('div', { class: 'msg-role' }, `message ${index}`)));
    return el('div', { class: 'vrow' }, messageCard(message, index, fresh.has(index), () => onOpen(index, message)));
  }

  function load(first, last) {
    const upTo = Math.min(last, total - 1);
    let from = first;
    while (from <= upTo && cache.has(from)) from++;
    if (from > upTo) return;
    const to = Math.min(total - 1, upTo + AHEAD);
    from = Math.max(0, Math.min(from, first - AHEAD));
    while (from <= to && cache.has(from)) from++;
    const key = `${seq}:${from}-${to}`;
    if (loading.has(key)) return;
    loading.add(key);
    const forSeq = seq;
    getJson(`${runPath(runId)}/at/${forSeq}/messages?from=${from}&to=${to}${actor ? `&actor=${encodeURIComponent(actor)}` : ''}`)
      .then((answer) => {
        if (!alive || forSeq !== seq) return;
        answer.messages.forEach((message, i) => cache.set(answer.from + i, message));
        list.invalidate();
        list.render();
      })
      .catch((error) => (title.textContent = `Messages: ${error.message}`))
      .finally(() => loading.delete(key));
  }

  let absent = false;
  const setCount = () => {
    list.setCount(total + (streaming ? 1 : 0));
    title.textContent = absent ? `${name} is not running at record ${seq}` : `Messages${name ? ` of ${name}` : ''} (${total})${total === 0 && emptyNote ? ` · ${emptyNote}` : ''}`;
  };

  return {
    element: el('section', { class: 'panel messages-panel' }, title, list.element),
    /**
     * The window of messages the next record's view should bring: the last ones while following the
     * end, else those around what is on screen.
     */
    wanted() {
      if (following) return `-${list.visible().last - list.visible().first + 1 + AHEAD}`;
      const { first, last } = list.drawn;
      return `${Math.max(0, first - AHEAD)}-${last + AHEAD}`;
    },
    /** Shows record `view.seq`'s messages; the view brings a window of them and their count. */
    show(view, freshIndices) {
      const changed = view.seq !== seq;
      seq = view.seq;
      if (changed) cache = new Map();
      if (actor) {
        // An invoked agent's messages: the view counts them, and they are fetched as they come into view.
        const agent = view.agents?.find((candidate) => candidate.path === actor);
        absent = !agent;
        total = agent?.messageCount ?? 0;
        fresh = new Set();
      } else {
        view.messages.forEach((message, i) => cache.set(view.messagesFrom + i, message));
        total = view.messageCount;
        fresh = freshIndices;
      }
      setCount();
      list.invalidate();
      list.element.dataset.seq = String(seq);
      if (following) list.scrollToEnd();
      else list.render();
    },
    /** Tokens streamed since the last model turn, drawn as a last card while they last. */
    stream(text) {
      const had = Boolean(streaming);
      // Nothing streamed before or now: the list is as it was (a scrub calls this for every record).
      if (!had && !text) return;
      streaming = text;
      if (had !== Boolean(text)) setCount();
      const box = list.element.querySelector('.streaming .msg-content');
      list.invalidate();
      if (box && text) box.textContent = text;
      else if (following) list.scrollToEnd();
      else list.render();
      if (following && text) list.scrollToEnd();
    },
    close() {
      alive = false;
    },
  };
}
