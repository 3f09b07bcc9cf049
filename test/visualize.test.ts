import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { UserError } from '../src/errors.ts';
import { machineGraph } from '../src/visualize/machineGraph.ts';
import { toDot } from '../src/visualize/toDot.ts';
import { toMermaid } from '../src/visualize/toMermaid.ts';
import { toSvg } from '../src/visualize/toSvg.ts';
import { isStateMachine, staleMessage, writeVisualizations } from '../src/visualize/writeVisualizations.ts';
import { createMachine, fromPromise } from 'xstate';
import { orderMachine } from './fixtures/machines/orderMachine.ts';
import { lampMachine, toggleSetup } from './fixtures/machines/toggleMachine.ts';

const fixturesDir = fileURLToPath(new URL('./fixtures/machines', import.meta.url));
const realMachinesDir = fileURLToPath(new URL('../machines', import.meta.url));
const realOutDir = fileURLToPath(new URL('../visualizations', import.meta.url));
const tempDirs: string[] = [];
const tempDir = async () => {
  const dir = await mkdtemp(join(tmpdir(), 'statecraft-visualize-'));
  tempDirs.push(dir);
  return dir;
};

test.after(async () => {
  await Promise.all(tempDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

test('machineGraph lists every state with its kind, parent, tags and invokes', () => {
  const graph = machineGraph(orderMachine);
  const node = (id: string) => {
    const found = graph.nodes.find((candidate) => candidate.id === id);
    assert.ok(found, `missing node ${id}`);
    return found;
  };
  assert.is(graph.root, 'order');
  assert.is(node('order').kind, 'compound');
  assert.equal(node('order').initial, ['order.checkout']);
  assert.is(node('order.fulfilment').kind, 'parallel');
  assert.equal(node('order.fulfilment').children, ['order.fulfilment.packing', 'order.fulfilment.shipping']);
  assert.is(node('order.checkout.paid').kind, 'final');
  assert.is(node('order.fulfilment.shipping.hist').kind, 'history');
  assert.is(node('order.fulfilment.shipping.hist').history, 'deep');
  assert.is(node('order.checkout.payment').parent, 'order.checkout');
  assert.equal(node('order.checkout.payment').tags, ['waiting']);
  assert.equal(node('order.checkout.payment').invokes, [{ id: 'charge', src: 'chargeCard', inline: false }]);
  assert.is(node('order.fulfilment.packing.picking').invokes[0]?.src, 'notifyWarehouse');
  assert.is(graph.nodes.length, 17);
});

test('machineGraph includes eventless, delayed, done and targetless transitions with guard labels', () => {
  const edges = machineGraph(orderMachine).edges.map((edge) => [edge.source, edge.target, edge.event, edge.guard]);
  const has = (expected: (string | null)[]) =>
    assert.ok(
      edges.some((edge) => JSON.stringify(edge) === JSON.stringify(expected)),
      `missing edge ${JSON.stringify(expected)}`,
    );
  has(['order.checkout.cart', 'order.checkout.payment', 'always', 'hasItems']);
  has(['order.checkout.cart', 'order.cancelled', 'always', null]);
  has(['order.fulfilment.shipping.inTransit', 'order.fulfilment.shipping.delivered', 'always', 'isPaid']);
  has(['order.fulfilment.shipping.waitingForCourier', 'order.fulfilment.shipping.inTransit', 'SHIP', 'and(isPaid, not(hasItems))']);
  has(['order.fulfilment.shipping.waitingForCourier', 'order.fulfilment.shipping.lost', 'after courierTimeout', null]);
  has(['order.fulfilment.shipping.lost', 'order.fulfilment.shipping.hist', 'RETRY', 'guard']);
  has(['order.checkout.payment', 'order.checkout.paid', 'onDone(charge)', null]);
  has(['order.fulfilment.packing.picking', 'order.fulfilment.packing.packed', 'onDone(notifyWarehouse)', null]);
  has(['order.checkout', 'order.fulfilment', 'onDone', null]);
  has(['order', 'order.cancelled', 'CANCEL', null]);
  const note = machineGraph(orderMachine).edges.find((edge) => edge.event === 'NOTE');
  assert.equal(note && [note.targetless, note.actions], [true, ['logNote']]);
  const timer = machineGraph(toggleSetup.createMachine({ id: 't', initial: 'a', states: { a: { after: { 250: 'a' } } } }));
  assert.is(timer.edges[0]?.event, 'after 250ms');
});

test('toDot draws clusters, dashed parallel regions, initial dots, double-bordered finals and labelled edges', () => {
  const dot = toDot(machineGraph(orderMachine));
  assert.ok(dot.startsWith('digraph "order" {'));
  assert.match(dot, /subgraph cluster_\d+ \{\n\s+graph \[id="state:order\.checkout", label="checkout", labeljust="l", style="rounded"\]/);
  assert.match(dot, /graph \[id="state:order\.fulfilment", label="fulfilment", labeljust="l", style="rounded"\]/);
  assert.match(dot, /graph \[id="state:order\.fulfilment\.packing", label="packing", labeljust="l", style="rounded,dashed"\]/);
  assert.match(dot, /graph \[id="state:order\.fulfilment\.shipping", label="shipping", labeljust="l", style="rounded,dashed"\]/);
  assert.match(dot, /"order\.checkout#initial" \[shape="point"/);
  assert.match(dot, /"order\.checkout#initial" -> "order\.checkout\.cart"/);
  assert.match(dot, /"order\.checkout\.paid" \[[^\]]*peripheries=2/);
  assert.match(dot, /"order\.complete" \[[^\]]*label="complete\\ntags final", peripheries=2/);
  assert.match(dot, /"order\.checkout\.cart" -> "order\.checkout\.payment" \[label="always \[hasItems\]"\]/);
  assert.match(dot, /-> "order\.fulfilment\.shipping\.delivered" \[label="always \[isPaid\]"\]/);
  assert.match(dot, /label="SHIP \[and\(isPaid, not\(hasItems\)\)\]"/);
  assert.match(dot, /label="payment\\ninvoke chargeCard as charge\\ntags waiting"/);
  assert.match(dot, /label="inTransit\\ninvoke trackParcel as tracker"/);
  assert.match(dot, /"order\.checkout#anchor" -> "order\.fulfilment#anchor" \[label="onDone", ltail="cluster_\d+", lhead="cluster_\d+"\]/);
  assert.match(dot, /"order#any" -> "order\.cancelled" \[label="CANCEL"\]/);
  assert.match(dot, /label="H\*", shape="circle"/);
});

test('toDot escapes quotes in event names and merges parallel edges into one label', () => {
  const dot = toDot(machineGraph(lampMachine));
  assert.match(dot, /\[label="SWITCH \\"on\\""\]/);
  const loops = machineGraph(
    toggleSetup.createMachine({ id: 'm', initial: 'a', states: { a: { on: { X: {}, Y: { guard: 'enabled' } } } } }),
  );
  assert.match(toDot(loops), /"m\.a" -> "m\.a" \[label="X\\nY \[enabled\]"\];/);
});

test('toMermaid nests composite states and separates parallel regions with --', () => {
  const mermaid = toMermaid(machineGraph(orderMachine));
  assert.ok(mermaid.startsWith('---\ntitle: order\n---\nstateDiagram-v2\n'));
  assert.match(mermaid, /\n {2}\[\*\] --> s_checkout\n/);
  assert.match(mermaid, /state "checkout" as s_checkout \{\n {4}\[\*\] --> s_checkout_cart\n/);
  assert.match(mermaid, /state "fulfilment" as s_fulfilment \{\n {4}state "packing" as s_fulfilment_packing \{[\s\S]*?\n {4}\}\n {4}--\n {4}state "shipping" as s_fulfilment_shipping \{/);
  assert.match(mermaid, /s_checkout_paid --> \[\*\]/);
  assert.match(mermaid, /s_checkout_payment : invoke chargeCard as charge\n/);
  assert.match(mermaid, /s_checkout_cart --> s_checkout_payment : always \[hasItems\]\n/);
  assert.match(mermaid, /s_checkout_cart --> s_cancelled : always\n/);
  assert.match(mermaid, /s_fulfilment_shipping_inTransit --> s_fulfilment_shipping_delivered : always \[isPaid\]\n/);
  assert.match(mermaid, /state "any state of order" as s_root__any\n/);
  assert.match(mermaid, /s_root__any --> s_cancelled : CANCEL\n/);
  assert.not.match(mermaid, /#|;/);
});

test('inline invoked logic is marked inline and a parallel root draws its regions', () => {
  const machine = createMachine({
    id: 'root',
    type: 'parallel',
    states: {
      left: { initial: 'a', states: { a: { invoke: { id: 'job', src: fromPromise(async () => 1) } } } },
      right: { initial: 'b', states: { b: {} } },
    },
  });
  const graph = machineGraph(machine);
  assert.equal(graph.nodes.find((node) => node.id === 'root.left.a')?.invokes, [{ id: 'job', src: 'inline', inline: true }]);
  assert.match(toDot(graph), /label="a\\ninvoke \(inline\) job"/);
  assert.match(toDot(graph), /graph \[id="state:root", label="root", labeljust="l", style="rounded"\]/);
  assert.match(toMermaid(graph), /\n {2}\}\n {2}--\n {2}state "right" as s_right \{/);
});

test('DOT and Mermaid output is identical across runs', () => {
  assert.is(toDot(machineGraph(orderMachine)), toDot(machineGraph(orderMachine)));
  assert.is(toMermaid(machineGraph(orderMachine)), toMermaid(machineGraph(orderMachine)));
});

test('toSvg renders a deterministic SVG that names every state', async () => {
  const graph = machineGraph(orderMachine);
  const dot = toDot(graph);
  const first = await toSvg(dot);
  const second = await toSvg(dot);
  assert.is(first, second);
  const body = first
    .replace(/^<\?xml[^>]*\?>\s*/, '')
    .replace(/^<!DOCTYPE[^>]*>\s*/, '')
    .replace(/^(<!--[\s\S]*?-->\s*)+/, '');
  assert.ok(body.startsWith('<svg'), `expected <svg after the prolog, found ${body.slice(0, 40)}`);
  assert.ok(first.trimEnd().endsWith('</svg>'));
  assert.not.match(first, /graphviz version/);
  for (const node of graph.nodes) {
    const shown = node.kind === 'history' ? 'H*' : node.label;
    assert.ok(first.includes(`>${shown}</text>`), `state ${node.id} is not drawn`);
  }
});

test('isStateMachine accepts machines and rejects setup objects and plain values', () => {
  assert.ok(isStateMachine(orderMachine));
  assert.not.ok(isStateMachine(toggleSetup));
  assert.not.ok(isStateMachine({ root: {}, config: {} }));
  assert.not.ok(isStateMachine(null));
});

test('writeVisualizations reports missing files, writes them, then reports changed and orphaned ones', async () => {
  const outDir = await tempDir();
  const expectedNames = [
    'orderMachine.dot', 'orderMachine.mmd', 'orderMachine.svg',
    'toggleMachine.dot', 'toggleMachine.mmd', 'toggleMachine.svg',
    'toggleMachine.lampMachine.dot', 'toggleMachine.lampMachine.mmd', 'toggleMachine.lampMachine.svg',
    'index.md',
  ];
  const before = await writeVisualizations({ machinesDir: fixturesDir, outDir, check: true });
  assert.equal(before.stale.map((entry) => entry.file).sort(), expectedNames.map((name) => join(outDir, name)).sort());
  assert.ok(before.stale.every((entry) => entry.reason === 'missing'));
  assert.equal(before.written, []);
  assert.match(staleMessage(before.stale), /npx statecraft visualize/);
  assert.match(staleMessage(before.stale), /orderMachine\.svg \(missing\)/);

  const written = await writeVisualizations({ machinesDir: fixturesDir, outDir });
  assert.is(written.written.length, expectedNames.length);
  assert.equal(written.diagrams.map((entry) => [entry.name, entry.exportName, entry.machineId]), [
    ['orderMachine', 'orderMachine', 'order'],
    ['toggleMachine', 'toggleMachine', 'toggle'],
    ['toggleMachine.lampMachine', 'lampMachine', 'lamp'],
  ]);
  assert.equal((await writeVisualizations({ machinesDir: fixturesDir, outDir, check: true })).stale, []);
  assert.equal((await writeVisualizations({ machinesDir: fixturesDir, outDir })).written, []);

  const index = await readFile(join(outDir, 'index.md'), 'utf8');
  assert.match(index, /\[!\[orderMachine\]\(orderMachine\.svg\)\]\(orderMachine\.svg\)/);
  assert.match(index, /\[Mermaid\]\(toggleMachine\.lampMachine\.mmd\)/);
  assert.is(await readFile(join(outDir, 'orderMachine.dot'), 'utf8'), toDot(machineGraph(orderMachine)));

  await writeFile(join(outDir, 'orderMachine.mmd'), 'stateDiagram-v2\n');
  await writeFile(join(outDir, 'oldMachine.svg'), '<svg/>');
  await writeFile(join(outDir, 'notes.txt'), 'kept');
  const after = await writeVisualizations({ machinesDir: fixturesDir, outDir, check: true });
  assert.equal(after.stale, [
    { file: join(outDir, 'orderMachine.mmd'), reason: 'changed' },
    { file: join(outDir, 'oldMachine.svg'), reason: 'orphaned' },
  ]);
  const fixed = await writeVisualizations({ machinesDir: fixturesDir, outDir });
  assert.equal(fixed.removed, [join(outDir, 'oldMachine.svg')]);
  assert.equal((await writeVisualizations({ machinesDir: fixturesDir, outDir, check: true })).stale, []);
  assert.is(await readFile(join(outDir, 'notes.txt'), 'utf8'), 'kept');
});

test('writeVisualizations refuses a *Machine.ts file that exports no machine, naming the file', async () => {
  const machinesDir = await tempDir();
  await writeFile(join(machinesDir, 'emptyMachine.ts'), 'export const notAMachine = 1;\n');
  try {
    await writeVisualizations({ machinesDir, outDir: join(machinesDir, 'out'), check: true });
    assert.unreachable('expected a UserError');
  } catch (error) {
    assert.instance(error, UserError);
    assert.match((error as Error).message, /emptyMachine\.ts to export an XState machine .*found exports: notAMachine/);
  }
});

test('the diagrams in visualizations/ match the machines in machines/', async () => {
  const { stale } = await writeVisualizations({ machinesDir: realMachinesDir, outDir: realOutDir, check: true });
  if (stale.length > 0) assert.unreachable(staleMessage(stale));
});

test.run();
