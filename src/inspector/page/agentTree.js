import { el, stateLabel } from './render.js';

/**
 * The run's agent and the agents it invokes, as a tree: each entry shows its state and message count
 * at the record shown, and `onSelect(entry)` is called when one is chosen (its messages and chart are
 * then shown). Agents the run's header names that are not running at that record are listed greyed.
 * The panel stays hidden for a run that invokes no agent.
 */
export function openAgentTree({ onSelect }) {
  let selected = '';
  let last = { header: null, view: null };
  const list = el('ul', { class: 'agent-tree' });
  const element = el('section', { class: 'panel agents-panel', hidden: true }, el('h3', {}, 'Agents'), list);

  function entries(header, view) {
    const root = { path: '', agent: '', name: header.agent.id, value: view?.value ?? null, messageCount: view?.messageCount ?? 0, running: true, depth: 0 };
    const running = (view?.agents ?? []).map((agent) => ({ ...agent, name: agent.path.split('/').at(-1), running: true, depth: agent.path.split('/').length }));
    const seen = new Set(running.map((agent) => agent.agent));
    const idle = Object.keys(header.invoked ?? {})
      .filter((agent) => !seen.has(agent))
      .map((agent) => ({ path: agent, agent, name: agent.split('/').at(-1), value: null, messageCount: 0, running: false, depth: agent.split('/').length }));
    return [root, ...running, ...idle];
  }

  function render() {
    const { header, view } = last;
    if (!header) return;
    const all = entries(header, view);
    element.hidden = all.length === 1;
    if (element.hidden) return;
    list.replaceChildren(...all.map((entry) =>
      el('li', { class: `agent-entry${entry.path === selected ? ' selected' : ''}${entry.running ? '' : ' idle'}`, dataset: { path: entry.path, agent: entry.agent } },
        el('button', { style: `padding-left:${0.4 + entry.depth * 1.1}rem`, title: entry.running ? `Show the messages and statechart of ${entry.name}` : `${entry.name} is not running at this record`, onclick: () => choose(entry) },
          el('span', { class: 'agent-name' }, entry.depth > 0 ? `↳ ${entry.name}` : entry.name),
          el('span', { class: 'muted small agent-state' }, entry.running ? stateLabel(entry.value) : 'not running'),
          el('span', { class: 'muted small agent-count' }, entry.running ? `${entry.messageCount} msgs` : '')))));
  }

  function choose(entry) {
    selected = entry.path;
    render();
    onSelect(entry);
  }

  return {
    element,
    /** The record shown changed: the tree is drawn for it. */
    show(header, view) {
      last = { header, view };
      render();
    },
    /** The selected agent's entry at the record shown (the run's own agent when it is not running then). */
    current() {
      const all = last.header ? entries(last.header, last.view) : [];
      return all.find((entry) => entry.path === selected) ?? null;
    },
    selected: () => selected,
  };
}
