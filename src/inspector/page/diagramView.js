import { activeStateIds, el } from './render.js';

const SVG_NS = 'http://www.w3.org/2000/svg';
const MIN_SCALE = 0.1;
const MAX_SCALE = 6;
const STEP = 1.25;
/** The scale at which Graphviz's 11-unit labels are 11 px: what the first view of a large diagram uses. */
const READABLE = 1;

/**
 * The statechart as an interactive SVG: zoom (wheel, buttons, + and - keys), pan (drag), fit (button or
 * 0), and a click on a state calls `onPickState(path)` with the state's path below the machine's root
 * ('' for the root itself). The current state is highlighted with `highlight(value)`.
 */
export function openDiagram({ onPickState }) {
  const view = { k: 1, x: 0, y: 0 };
  let svg = null;
  let layer = null;
  let size = { width: 0, height: 0 };
  let rootId = '';
  let focused = false;

  const label = el('span', { class: 'muted small diagram-label' });
  const viewport = el('div', { class: 'diagram', id: 'diagram', tabindex: '0', 'aria-label': 'Statechart: + and - zoom, 0 fits, drag to pan, click a state to filter the records' },
    el('p', { class: 'muted' }, 'Drawing the statechart…'));
  const button = (text, title, action, cls) => el('button', { class: `zoom-btn ${cls}`, title, 'aria-label': title, onclick: action }, text);
  const tools = el('div', { class: 'diagram-tools' },
    button('−', 'Zoom out (-)', () => zoomBy(1 / STEP), 'zoom-out'),
    button('+', 'Zoom in (+)', () => zoomBy(STEP), 'zoom-in'),
    button('Fit', 'Show the whole statechart (0)', () => fit(), 'zoom-fit'));
  const element = el('section', { class: 'panel diagram-panel' },
    el('div', { class: 'diagram-head' }, el('h3', {}, 'Statechart'), label, tools), viewport);

  function apply() {
    layer?.setAttribute('transform', `translate(${view.x.toFixed(2)} ${view.y.toFixed(2)}) scale(${view.k.toFixed(4)})`);
    viewport.dataset.scale = view.k.toFixed(3);
  }

  const clamp = (k) => Math.min(MAX_SCALE, Math.max(MIN_SCALE, k));

  /** Zooms by `factor` around a point of the viewport (its centre by default). */
  function zoomBy(factor, px = viewport.clientWidth / 2, py = viewport.clientHeight / 2) {
    if (!layer) return;
    const k = clamp(view.k * factor);
    view.x = px - ((px - view.x) * k) / view.k;
    view.y = py - ((py - view.y) * k) / view.k;
    view.k = k;
    apply();
  }

  function fit() {
    if (!layer || !size.width) return;
    const width = viewport.clientWidth || 400;
    const height = viewport.clientHeight || 300;
    view.k = clamp(Math.min(width / size.width, height / size.height) * 0.96);
    view.x = (width - size.width * view.k) / 2;
    view.y = (height - size.height * view.k) / 2;
    apply();
  }

  /** Centres the viewport on a drawn state at a readable scale, unless the whole chart already is readable. */
  function focusOn(node) {
    const width = viewport.clientWidth || 400;
    const height = viewport.clientHeight || 300;
    if (Math.min(width / size.width, height / size.height) >= READABLE * 0.9) return fit();
    const box = node.getBBox();
    const cx = box.x + box.width / 2 + size.shiftX;
    const cy = box.y + box.height / 2 + size.shiftY;
    view.k = READABLE;
    view.x = width / 2 - cx * view.k;
    view.y = height / 2 - cy * view.k;
    apply();
  }

  /** Pans, at the same scale, so that a state that left the viewport (the run moved on) is in its middle again. */
  function keepInView(node) {
    const box = node.getBoundingClientRect();
    const frame = viewport.getBoundingClientRect();
    if (box.left >= frame.left && box.right <= frame.right && box.top >= frame.top && box.bottom <= frame.bottom) return;
    view.x += frame.left + frame.width / 2 - (box.left + box.width / 2);
    view.y += frame.top + frame.height / 2 - (box.top + box.height / 2);
    apply();
  }

  let drag = null;
  viewport.addEventListener('pointerdown', (event) => {
    if (!layer || event.button !== 0) return;
    drag = { x: event.clientX, y: event.clientY, startX: view.x, startY: view.y, moved: false };
  });
  viewport.addEventListener('pointermove', (event) => {
    if (!drag) return;
    const dx = event.clientX - drag.x;
    const dy = event.clientY - drag.y;
    if (!drag.moved && Math.hypot(dx, dy) < 4) return;
    if (!drag.moved) viewport.setPointerCapture?.(event.pointerId);
    drag.moved = true;
    viewport.classList.add('panning');
    view.x = drag.startX + dx;
    view.y = drag.startY + dy;
    apply();
  });
  const endDrag = (event) => {
    if (!drag) return;
    const moved = drag.moved;
    drag = null;
    viewport.classList.remove('panning');
    if (moved) viewport.releasePointerCapture?.(event.pointerId);
    else if (event.type === 'pointerup') pick(event.target);
  };
  viewport.addEventListener('pointerup', endDrag);
  viewport.addEventListener('pointercancel', endDrag);
  viewport.addEventListener('wheel', (event) => {
    if (!layer) return;
    event.preventDefault();
    const box = viewport.getBoundingClientRect();
    zoomBy(Math.exp(-event.deltaY * 0.0015), event.clientX - box.left, event.clientY - box.top);
  }, { passive: false });
  viewport.addEventListener('keydown', (event) => {
    if (event.key === '+' || event.key === '=') zoomBy(STEP);
    else if (event.key === '-' || event.key === '_') zoomBy(1 / STEP);
    else if (event.key === '0') fit();
    else return;
    event.preventDefault();
    event.stopPropagation();
  });

  function pick(target) {
    const node = target instanceof Element ? target.closest('[id^="state:"]') : null;
    if (!node || !onPickState || !viewport.classList.contains('pickable')) return;
    const id = node.id.slice('state:'.length);
    onPickState(id === rootId ? '' : id.startsWith(`${rootId}.`) ? id.slice(rootId.length + 1) : id);
  }

  return {
    element,
    /**
     * Shows a Graphviz SVG (text), inline so that its states can be styled and clicked; `caption` names
     * whose chart it is, and `pickable` says whether a click on a state picks it.
     */
    load(text, caption = '', pickable = true) {
      viewport.classList.toggle('pickable', pickable);
      const doc = new DOMParser().parseFromString(text, 'image/svg+xml');
      const drawn = document.importNode(doc.documentElement, true);
      const [, , width, height] = (drawn.getAttribute('viewBox') ?? '0 0 0 0').split(/[\s,]+/).map(Number);
      for (const name of ['width', 'height', 'viewBox']) drawn.removeAttribute(name);
      layer = document.createElementNS(SVG_NS, 'g');
      layer.setAttribute('class', 'viewport');
      layer.append(...drawn.childNodes);
      drawn.append(layer);
      svg = drawn;
      size = { width: width || 1, height: height || 1, shiftX: 0, shiftY: 0 };
      rootId = drawn.querySelector('g.cluster[id^="state:"]')?.id.slice('state:'.length) ?? '';
      label.textContent = caption;
      viewport.replaceChildren(svg);
      // Graphviz's own transform moves the drawing into the box: a state's box, read in its
      // coordinates, is shifted by it in the viewport's layer.
      const graph = layer.querySelector('g.graph');
      const shift = /translate\(\s*([-\d.]+)[\s,]+([-\d.]+)\s*\)/.exec(graph?.getAttribute('transform') ?? '');
      if (shift) Object.assign(size, { shiftX: Number(shift[1]), shiftY: Number(shift[2]) });
      focused = false;
      fit();
    },
    /** Marks the states of a state value as active, the innermost ones as current, and keeps the current one in view (the first time, at a readable scale). */
    highlight(value) {
      if (!svg) return;
      svg.querySelectorAll('.active, .current').forEach((node) => node.classList.remove('active', 'current'));
      const ids = activeStateIds(rootId, value);
      let current = null;
      ids.forEach((id, index) => {
        const node = svg.querySelector(`[id="${CSS.escape(`state:${id}`)}"]`);
        if (!node) return;
        node.classList.add('active');
        if (!ids.some((other, j) => j !== index && other.startsWith(`${id}.`))) {
          node.classList.add('current');
          current ??= node;
        }
      });
      if (!current || viewport.clientWidth === 0) return;
      if (!focused) {
        focused = true;
        focusOn(current);
      } else {
        keepInView(current);
      }
    },
    /** Shows a message instead of a chart. */
    clear(message) {
      svg = null;
      layer = null;
      label.textContent = '';
      viewport.replaceChildren(el('p', { class: 'muted' }, message));
    },
    fit,
    zoomBy,
  };
}
