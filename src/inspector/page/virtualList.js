import { el } from './render.js';

/**
 * A scrolling list of fixed-height rows of which only those on screen, and `overscan` more on each
 * side, are in the DOM: a spacer as tall as all the rows gives the scroll bar its length, and the rows
 * drawn are moved to where they belong. `renderRow(index)` draws one row; `onWindow(first, last)`
 * hears which rows are drawn after each render, so their data can be fetched.
 */
export function virtualList({ rowHeight, renderRow, updateRow, onWindow = () => {}, overscan = 6, tag = 'div', className = '' }) {
  const rows = el(tag, { class: 'vlist-rows' });
  const spacer = el('div', { class: 'vlist-spacer' }, rows);
  const viewport = el('div', { class: `vlist ${className}` }, spacer);
  let count = 0;
  let frame = 0;
  let drawn = { first: 0, last: -1 };
  /** The rows drawn may not show their data any more (it arrived, or changed). */
  let stale = true;

  function render() {
    if (frame) cancelAnimationFrame(frame);
    frame = 0;
    const height = viewport.clientHeight || 600;
    const top = Math.min(viewport.scrollTop, Math.max(0, count * rowHeight - height));
    const first = Math.max(0, Math.floor(top / rowHeight) - overscan);
    const last = Math.min(count - 1, Math.ceil((top + height) / rowHeight) + overscan);
    // The same rows with the same data: only what `updateRow` changes (a selection) is redrawn.
    if (!stale && updateRow && first === drawn.first && last === drawn.last) {
      [...rows.children].forEach((node, i) => updateRow(node, first + i));
      return;
    }
    stale = false;
    rows.style.transform = `translateY(${first * rowHeight}px)`;
    const nodes = [];
    for (let index = first; index <= last; index++) nodes.push(renderRow(index));
    rows.replaceChildren(...nodes);
    drawn = { first, last };
    onWindow(first, last);
  }

  viewport.addEventListener('scroll', () => {
    if (!frame) frame = requestAnimationFrame(render);
  });
  // When the list changes size (the window, or a panel above it), a list showing its end keeps showing it.
  let wasAtEnd = true;
  viewport.addEventListener('scroll', () => (wasAtEnd = atEnd()), { passive: true });
  new ResizeObserver(() => (wasAtEnd && count > 0 ? scrollToEnd() : render())).observe(viewport);

  function atEnd() {
    return viewport.scrollTop + viewport.clientHeight >= count * rowHeight - rowHeight / 2;
  }

  function scrollToEnd() {
    viewport.scrollTop = Math.max(0, count * rowHeight - viewport.clientHeight);
    wasAtEnd = true;
    render();
  }

  return {
    element: viewport,
    get count() {
      return count;
    },
    /** The rows drawn, overscan included. */
    get drawn() {
      return drawn;
    },
    /** The rows at least partly on screen. */
    visible() {
      const first = Math.floor(viewport.scrollTop / rowHeight);
      return { first, last: Math.min(count - 1, Math.ceil((viewport.scrollTop + (viewport.clientHeight || 600)) / rowHeight) - 1) };
    },
    /** The data behind the rows changed: the next render draws them again. */
    invalidate() {
      stale = true;
    },
    setCount(n) {
      stale = true;
      count = n;
      spacer.style.height = `${n * rowHeight}px`;
    },
    render,
    /** Whether the last row is in view. */
    atEnd,
    scrollToEnd,
    /** Scrolls just enough to show row `index`. */
    reveal(index) {
      const top = index * rowHeight;
      if (top < viewport.scrollTop) viewport.scrollTop = top;
      else if (top + rowHeight > viewport.scrollTop + viewport.clientHeight) viewport.scrollTop = top + rowHeight - viewport.clientHeight;
      wasAtEnd = atEnd();
      render();
    },
  };
}
