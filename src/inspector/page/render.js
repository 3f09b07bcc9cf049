/** Creates an element; `props` sets properties (class, dataset, on*) and children may be strings or nodes. */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'dataset') Object.assign(node.dataset, value);
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else if (key in node && typeof value !== 'string') node[key] = value;
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export const shortId = (id) => (id.length > 14 ? `${id.slice(0, 8)}…${id.slice(-4)}` : id);

export const formatCost = (usd) => (usd === 0 ? '$0' : usd < 0.01 ? `$${usd.toFixed(4)}` : `$${usd.toFixed(2)}`);

export const formatTokens = (n) => (n >= 10000 ? `${(n / 1000).toFixed(1)}k` : String(n));

export function formatAgo(iso) {
  const seconds = Math.round((Date.now() - Date.parse(iso)) / 1000);
  if (seconds < 5) return 'just now';
  if (seconds < 60) return `${seconds}s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h ago`;
  return new Date(iso).toLocaleDateString();
}

export const formatTime = (iso) => new Date(iso).toLocaleTimeString([], { hour12: false }) + `.${String(new Date(iso).getMilliseconds()).padStart(3, '0')}`;

export const statusBadge = (status) => el('span', { class: `badge status-${status}` }, status === 'created' ? 'not started' : status);

/** Lists the dotted ids of the active states of a state value, parents included (`agent`, `agent.execute`). */
export function activeStateIds(rootId, value) {
  const ids = [rootId];
  const walk = (prefix, v) => {
    if (typeof v === 'string') ids.push(`${prefix}.${v}`);
    else if (v && typeof v === 'object') {
      for (const [key, child] of Object.entries(v)) {
        ids.push(`${prefix}.${key}`);
        walk(`${prefix}.${key}`, child);
      }
    }
  };
  walk(rootId, value);
  return ids;
}

export function stateLabel(value) {
  if (typeof value === 'string') return value;
  const ids = activeStateIds('', value).slice(1).map((id) => id.slice(1));
  return ids.filter((id) => !ids.some((other) => other.startsWith(`${id}.`))).join(', ');
}

const preview = (value) => {
  if (Array.isArray(value)) return `[${value.length}]`;
  const keys = Object.keys(value);
  return `{${keys.slice(0, 4).join(', ')}${keys.length > 4 ? ', …' : ''}}`;
};

/** A collapsible JSON view; `open` remembers which paths the user expanded across re-renders. */
export function jsonTree(value, open, path = '$', label) {
  const key = label === undefined ? null : el('span', { class: 'json-key' }, `${label}: `);
  if (value === null || typeof value !== 'object') {
    const kind = value === null ? 'null' : typeof value;
    return el('div', { class: 'json-leaf' }, key, el('span', { class: `json-${kind}` }, JSON.stringify(value)));
  }
  const entries = Array.isArray(value) ? value.map((v, i) => [i, v]) : Object.entries(value);
  const details = el('details', { class: 'json-node', open: open.has(path) || (path === '$' && !open.has('!$')) });
  details.append(el('summary', {}, key, el('span', { class: 'json-preview' }, preview(value))));
  details.addEventListener('toggle', () => {
    if (path === '$') details.open ? open.delete('!$') : open.add('!$');
    else details.open ? open.add(path) : open.delete(path);
  });
  const body = el('div', { class: 'json-children' });
  for (const [k, v] of entries) body.append(jsonTree(v, open, `${path}/${k}`, k));
  details.append(body);
  return details;
}

export const pretty = (value) => {
  if (typeof value === 'string') {
    try {
      return JSON.stringify(JSON.parse(value), null, 2);
    } catch {
      return value;
    }
  }
  return JSON.stringify(value, null, 2);
};

const roleLabel = (message) => (message.role === 'tool' ? `tool result · ${message.name}` : message.role);
const callText = (call) => `→ ${call.name}(${typeof call.arguments === 'string' ? call.arguments : JSON.stringify(call.arguments)})`;

/** A message as a fixed-height card: its role, and the start of its text and tool calls; `onOpen` shows it whole. */
export function messageCard(message, index, fresh, onOpen) {
  const text = [message.content ?? '', ...(message.toolCalls ?? []).map(callText)].filter(Boolean).join('\n');
  return el('div', { class: `message msg-${message.role}${fresh ? ' fresh' : ''}`, dataset: { index: String(index) }, title: 'Show the whole message', onclick: onOpen },
    el('div', { class: 'msg-role' }, `${index} · ${roleLabel(message)}`),
    el('div', { class: 'msg-content' }, text.length > 400 ? `${text.slice(0, 400)}…` : text));
}

/** A message whole: its text, each tool call with its arguments, and the call a tool result answers. */
export function messageFull(message) {
  const parts = [el('div', { class: 'msg-role' }, roleLabel(message))];
  if (message.content) parts.push(el('div', { class: 'msg-content' }, message.content));
  for (const call of message.toolCalls ?? []) {
    parts.push(
      el('div', { class: 'tool-call' },
        el('div', { class: 'tool-call-head' }, el('strong', {}, call.name), el('span', { class: 'muted' }, ` ${call.id}`)),
        el('pre', {}, pretty(call.arguments))),
    );
  }
  if (message.role === 'tool') parts.push(el('div', { class: 'muted small' }, `for call ${message.toolCallId}`));
  return el('div', { class: `message whole msg-${message.role}` }, parts);
}
