// The cost of one context update as the recorder sees it: a message (about 1 KB) appended to a context
// holding N, by an XState action, then the patch from the previous persisted snapshot. Three ways:
// - spread: today's path, `assign` returning a new array, and the recorder's `diff` of the snapshots;
// - draft: `assign` whose recipe edits an immer draft (`produce`), and the same `diff`;
// - immer patches: the draft's patches from `produceWithPatches` as the context's part of the patch, and
//   `diff` only for the rest of the snapshot (what feeding immer's patches to the recorder would cost).
// Each case runs ROUNDS fresh actors of WARMUP + STEPS events each (so the context stays near its size),
// interleaved with the others; the table gives medians of reps.
import { enablePatches, Immer, type Patch } from 'immer';
import { assign, createActor, setup, type AnyActor } from 'xstate';
import { diff } from '../src/log/format/patch.ts';
import type { Operation } from '../src/log/format/record.ts';
import { persistedSnapshot } from '../src/recorder/persistedSnapshot.ts';

enablePatches();

interface Message { role: 'user'; content: string }
interface Context { messages: Message[]; step: number; usage: { inputTokens: number; outputTokens: number } }
type Add = { type: 'add'; message: Message };

const ROUNDS = 10;
const WARMUP = 20;
const STEPS = 50;
const frozen = new Immer({ autoFreeze: true });
const unfrozen = new Immer({ autoFreeze: false });
let immerPatches: Patch[] = [];

const message = (i: number): Message => ({ role: 'user', content: `message ${i} `.padEnd(1_000, 'x') });
const pointer = (path: (string | number)[]) => `/context/${path.map((key) => String(key).replace(/~/g, '~0').replace(/\//g, '~1')).join('/')}`;

const spreadAdd = assign(({ context, event }: { context: Context; event: Add }) => ({
  messages: [...context.messages, event.message],
  step: context.step + 1,
}));
const draftAdd = (immer: Immer) =>
  assign(({ context, event }: { context: Context; event: Add }) =>
    immer.produce(context, (draft) => {
      draft.messages.push(event.message);
      draft.step += 1;
    }),
  );
const patchesAdd = assign(({ context, event }: { context: Context; event: Add }) => {
  const [next, patches] = unfrozen.produceWithPatches(context, (draft) => {
    draft.messages.push(event.message);
    draft.step += 1;
  });
  immerPatches = patches;
  return next;
});

function machineWith(action: typeof spreadAdd, size: number) {
  return setup({ types: {} as { context: Context; events: Add } }).createMachine({
    context: { messages: Array.from({ length: size }, (_, i) => message(i)), step: 0, usage: { inputTokens: 0, outputTokens: 0 } },
    on: { add: { actions: action as never } },
  });
}

/** The recorder's patch: `diff` of the whole snapshot, or immer's patches for the context and `diff` for the rest. */
type PatchOf = (previous: Record<string, unknown>, next: Record<string, unknown>) => Operation[];
const byDiff: PatchOf = (previous, next) => diff(previous, next);
const byImmer: PatchOf = (previous, next) => [
  ...diff({ ...previous, context: undefined }, { ...next, context: undefined }),
  ...immerPatches.map((patch) => ({ op: patch.op, path: pointer(patch.path), ...(patch.op === 'remove' ? {} : { value: patch.value }) }) as Operation),
];

const cases = {
  spread: { action: (): typeof spreadAdd => spreadAdd, patchOf: byDiff },
  'draft (autoFreeze on)': { action: () => draftAdd(frozen), patchOf: byDiff },
  'draft (autoFreeze off)': { action: () => draftAdd(unfrozen), patchOf: byDiff },
  'immer patches (autoFreeze off)': { action: () => patchesAdd, patchOf: byImmer },
} as const;
type Case = keyof typeof cases;

/** Microseconds per step: send the event, take the persisted snapshot, make the patch. */
function perStep(name: Case, size: number): { us: number; ops: number } {
  const { action, patchOf } = cases[name];
  const machine = machineWith(action(), size);
  const events = Array.from({ length: WARMUP + STEPS }, (_, i) => ({ type: 'add' as const, message: message(size + i) }));
  let ops = 0;
  let ms = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const actor: AnyActor = createActor(machine).start();
    let previous = persistedSnapshot(actor);
    let started = 0;
    for (let i = 0; i < events.length; i++) {
      if (i === WARMUP) started = performance.now();
      actor.send(events[i]!);
      const next = persistedSnapshot(actor);
      ops = patchOf(previous, next).length;
      previous = next;
    }
    ms += performance.now() - started;
    actor.stop();
  }
  return { us: (ms * 1_000) / (ROUNDS * STEPS), ops };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** The table: each case's median µs per step at each context size, beside today's path (the target: no slower). */
export function contextUpdate(reps = Number(process.env.BENCH_CONTEXT_REPS ?? 7), sizes = [100, 1_000, 10_000]): string {
  const names = Object.keys(cases) as Case[];
  const samples = new Map<string, number[]>();
  const ops = new Map<string, number>();
  for (let rep = 0; rep < reps; rep++) {
    for (const size of sizes) {
      for (const name of rep % 2 ? [...names].reverse() : names) {
        const sample = perStep(name, size);
        (samples.get(`${name}@${size}`) ?? samples.set(`${name}@${size}`, []).get(`${name}@${size}`)!).push(sample.us);
        ops.set(`${name}@${size}`, sample.ops);
      }
    }
  }
  const rows = [
    `Context update and its patch, in-process: median of ${reps} runs of ${ROUNDS} actors × ${STEPS} steps (each after ${WARMUP} unmeasured), one ~1 KB message appended a step. Node ${process.version}.`,
    'Target for each way: no slower than spread (today: `assign` with a new array, the recorder\'s `diff`).',
    '',
    '| way | messages in context | µs/step | × spread | ops per patch | |',
    '|---|---|---|---|---|---|',
  ];
  for (const size of sizes) {
    const today = median(samples.get(`spread@${size}`)!);
    for (const name of names) {
      const us = median(samples.get(`${name}@${size}`)!);
      const verdict = name === 'spread' ? '' : us <= today ? 'within' : 'SLOWER';
      rows.push(`| ${name} | ${size.toLocaleString('en-US')} | ${us.toFixed(1)} | ${(us / today).toFixed(2)} | ${ops.get(`${name}@${size}`)} | ${verdict} |`);
    }
  }
  return rows.join('\n');
}
