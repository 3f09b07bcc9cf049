import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { defineAgent, elideToolOutputs, RECALL_TOOL, summarize, UserError } from '../src/index.ts';
import type { AgentConfig, AgentContext, CompactionInput, CompactionStrategy, Message } from '../src/index.ts';
import { estimatingCounter } from '../src/model/tokenCounter.ts';
import { checkStep } from '../src/runtime/compaction/checkStep.ts';
import { inputExceedsCompactionShare } from '../src/runtime/compaction/compactionDue.ts';
import { compactionWords } from '../src/runtime/compaction/compactionWords.ts';
import { ELIDED_PREFIX, SUMMARY_PREFIX } from '../src/runtime/compaction/strategies.ts';
import { pairingProblem, pinnedIndices, turnsOf } from '../src/runtime/compaction/turns.ts';

/** A small deterministic random source (mulberry32), so that a failing conversation can be found again by its seed. */
function random(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A conversation of random turns: user notes, plain answers, and assistant turns with one to three calls and their results. */
function conversation(seed: number): Message[] {
  const next = random(seed);
  const pick = (n: number) => Math.floor(next() * n);
  const messages: Message[] = [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: `Task ${seed}` }];
  const turns = 1 + pick(40);
  let id = 0;
  for (let t = 0; t < turns; t++) {
    const kind = pick(6);
    if (kind === 0) messages.push({ role: 'user', content: `note ${t} `.repeat(1 + pick(30)) });
    else if (kind === 1) messages.push({ role: 'assistant', content: `thinking ${t} `.repeat(1 + pick(20)) });
    else {
      const calls = Array.from({ length: 1 + pick(3) }, () => ({ id: pick(4) === 0 ? 'call_0' : `call_${++id}`, name: pick(2) ? 'read' : 'search', arguments: `{"n":${t}}` }));
      // Models reuse ids across turns; within one turn they are unique.
      const unique = calls.filter((call, i) => calls.findIndex((c) => c.id === call.id) === i);
      messages.push({ role: 'assistant', content: pick(2) ? null : 'calling', toolCalls: unique });
      const results = unique.map((call): Message => ({ role: 'tool', toolCallId: call.id, name: call.name, content: `result of ${call.id} `.repeat(1 + pick(200)) }));
      if (pick(2)) results.reverse();
      messages.push(...results);
    }
  }
  return messages;
}

const counter = estimatingCounter();
const count = (messages: readonly Message[]) => counter.request(messages);

function inputFor(messages: Message[], seed: number, pin?: (message: Message, index: number) => boolean): CompactionInput {
  const tokens = count(messages);
  return {
    messages,
    pinned: pinnedIndices(messages, pin),
    tokens,
    target: Math.floor(tokens * random(seed + 1)()),
    step: 7,
    elidedIds: new Set(['call_0']),
    signal: new AbortController().signal,
    count,
    ask: async ({ text }) => `summary of ${text.length} characters`,
  };
}

const sameMessage = (a: Message, b: Message) => JSON.stringify(a) === JSON.stringify(b);

test('no strategy ever separates a tool call from its result, or drops a pinned message, over 300 random conversations', async () => {
  const strategies = [elideToolOutputs(), elideToolOutputs({ keepLast: 0, minChars: 1 }), summarize(), summarize({ keepLast: 0 })];
  let changed = 0;
  for (let seed = 1; seed <= 300; seed++) {
    const messages = conversation(seed);
    const pin = seed % 3 === 0 ? (message: Message) => message.role === 'tool' && message.content.startsWith('result of call_3 ') : undefined;
    for (const strategy of strategies) {
      const input = inputFor(messages, seed, pin);
      const result = await strategy.compact(input);
      assert.is(pairingProblem(result.messages), undefined, `seed ${seed}, ${strategy.name}: ${pairingProblem(result.messages)}`);
      let at = 0;
      for (const index of [...input.pinned].sort((a, b) => a - b)) {
        while (at < result.messages.length && !sameMessage(result.messages[at]!, messages[index]!)) at++;
        assert.ok(at < result.messages.length, `seed ${seed}, ${strategy.name}: pinned message ${index} kept`);
        at++;
      }
      for (const { index } of result.elided ?? []) assert.is(messages[index]!.role, 'tool');
      if (result.messages.length !== messages.length || result.elided?.length) changed++;
      checkStep(defineAgent({ name: 'a' }), strategy.name, messages, input.pinned, result);
    }
  }
  assert.ok(changed > 300, `strategies changed ${changed} conversations`);
});

test('the random conversations are well paired to begin with, and turns keep a call with its results', () => {
  for (let seed = 1; seed <= 50; seed++) {
    const messages = conversation(seed);
    assert.is(pairingProblem(messages), undefined);
    for (const [start, end] of turnsOf(messages)) {
      for (let i = start + 1; i < end; i++) assert.is(messages[i]!.role, 'tool');
    }
  }
});

test('a result moved away from its call is found, and so is a call whose result is missing', () => {
  const messages: Message[] = [
    { role: 'user', content: 'go' },
    { role: 'assistant', content: null, toolCalls: [{ id: 'a', name: 'read', arguments: '{}' }] },
    { role: 'tool', toolCallId: 'a', name: 'read', content: 'x' },
    { role: 'assistant', content: 'done' },
  ];
  assert.is(pairingProblem(messages), undefined);
  assert.match(pairingProblem([messages[0]!, messages[2]!, messages[3]!])!, /no assistant message with that call/);
  assert.match(pairingProblem([messages[0]!, messages[1]!, messages[3]!])!, /calls a, whose results do not follow/);
  // The latest turn may still wait for its results.
  assert.is(pairingProblem(messages.slice(0, 2)), undefined);
});

test('elideToolOutputs replaces old outputs, oldest first, with a stub naming an id that is new to the run', () => {
  const messages = conversation(11);
  const input = { ...inputFor(messages, 11), target: 0 };
  const result = elideToolOutputs({ keepLast: 1 }).compact(input) as { messages: Message[]; elided: { id: string; index: number }[] };
  assert.ok(result.elided.length > 0);
  const ids = result.elided.map((e) => e.id);
  assert.is(new Set(ids).size, ids.length, 'ids are unique');
  assert.not.ok(ids.includes('call_0'), 'an id already used for an elided output is not given again');
  for (const { id, index } of result.elided) {
    const stub = result.messages[index]!;
    assert.ok(stub.role === 'tool' && stub.content.startsWith(ELIDED_PREFIX), JSON.stringify(stub));
    assert.match(stub.content, `${RECALL_TOOL} with {"id":${JSON.stringify(id)}}`);
    assert.is((stub as { toolCallId: string }).toolCallId, (messages[index] as { toolCallId: string }).toolCallId);
  }
  assert.is(result.messages.length, messages.length);
  const lastTurn = turnsOf(messages).at(-1)!;
  for (let i = lastTurn[0]; i < lastTurn[1]; i++) assert.is(result.messages[i], messages[i], 'the latest turn is kept');
});

test('elideToolOutputs stops once the input is under its target', () => {
  const messages = conversation(5);
  const input = inputFor(messages, 5);
  const result = elideToolOutputs({ keepLast: 0, minChars: 1 }).compact({ ...input, target: input.tokens - 1 }) as { elided: unknown[] };
  assert.is(result.elided.length, 1);
});

test('summarize asks the model about the older turns, the earlier summary among them, and puts its answer in their place', async () => {
  const messages: Message[] = [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'Task' },
    { role: 'user', content: `${SUMMARY_PREFIX}\nEarlier, the agent read pages 1 to 3.` },
    { role: 'assistant', content: null, toolCalls: [{ id: 'a', name: 'read', arguments: '{"n":4}' }] },
    { role: 'tool', toolCallId: 'a', name: 'read', content: 'page four' },
    { role: 'assistant', content: null, toolCalls: [{ id: 'b', name: 'read', arguments: '{"n":5}' }] },
    { role: 'tool', toolCallId: 'b', name: 'read', content: 'page five' },
  ];
  const asked: string[] = [];
  const input = { ...inputFor(messages, 1), ask: async ({ instructions, text }: { instructions: string; text: string }) => (asked.push(`${instructions}\n---\n${text}`), 'Read pages 1 to 4.') };
  const result = await summarize({ keepLast: 1 }).compact(input);
  assert.is(asked.length, 1);
  assert.match(asked[0]!, 'Earlier summary: Earlier, the agent read pages 1 to 3.');
  assert.match(asked[0]!, 'Tool read (a) returned: page four');
  assert.not.match(asked[0]!, 'page five');
  assert.not.match(asked[0]!, 'Task');
  assert.equal(result.messages, [messages[0], messages[1], { role: 'user', content: `${SUMMARY_PREFIX}\nRead pages 1 to 4.` }, messages[5], messages[6]]);
});

test('a strategy that separates a call from its result, or drops a pinned message, is refused, naming it', () => {
  const messages = conversation(3);
  const agent = defineAgent({ name: 'picky' });
  const pinned = pinnedIndices(messages);
  const firstTool = messages.findIndex((m) => m.role === 'tool');
  assert.throws(() => checkStep(agent, 'cutter', messages, pinned, { messages: messages.filter((_, i) => i !== firstTool - 1) }), /strategy "cutter" of agent "picky" separated a tool call from its result/);
  assert.throws(() => checkStep(agent, 'forgetful', messages, pinned, { messages: messages.slice(2) }), /strategy "forgetful".*dropped or changed pinned message 0/);
  assert.throws(() => checkStep(agent, 'sloppy', messages, pinned, { messages: [...messages, { role: 'robot' } as never] }), /malformed message/);
});

const loose = (config: Record<string, unknown>) => config as unknown as AgentConfig;
const refusal = (config: AgentConfig): string => {
  try {
    defineAgent(config);
  } catch (error) {
    if (error instanceof UserError) return error.message;
    throw error;
  }
  throw new Error('defineAgent accepted it');
};

test('compaction settings are checked when the agent is defined, with errors that say what to write', () => {
  assert.match(refusal(loose({ name: 'a', compaction: { at: 1.5, strategy: summarize() } })), /Agent "a": compaction\.at must be a share .* found 1\.5\. Write e\.g\. compaction: \{ at: 0\.8/);
  assert.match(refusal(loose({ name: 'a', compaction: { at: 0.5, target: 0.6, strategy: summarize() } })), /target \(0\.6\) must be below \.at \(0\.5\)/);
  assert.match(refusal(loose({ name: 'a', compaction: { at: 0.8 } })), /needs a strategy/);
  assert.match(refusal(loose({ name: 'a', compaction: { strategy: [] } })), /empty list/);
  assert.match(refusal(loose({ name: 'a', compaction: { strategy: [summarize(), 'elide'] } })), /\.strategy\[1\] is not a strategy/);
  assert.match(refusal(loose({ name: 'a', compaction: { strategy: summarize(), every: 3 } })), /no setting "every"/);
  assert.match(refusal(loose({ name: 'a', compaction: { strategy: summarize(), pin: 'system' } })), /\.pin must be a function/);
  assert.throws(() => summarize({ keepLast: -1 }), /summarize\(\{ keepLast \}\) must be a whole number/);
  assert.throws(() => elideToolOutputs({ minChars: 0 }), /elideToolOutputs\(\{ minChars \}\)/);
});

test('an agent that elides tool outputs is offered recall_tool_output; one that only summarizes is not', () => {
  const eliding = defineAgent({ name: 'a', compaction: { strategy: [elideToolOutputs(), summarize()] } });
  assert.ok(eliding.toolbox.get(RECALL_TOOL));
  assert.is(eliding.compaction?.at, 0.8);
  assert.is(eliding.compaction?.target, 0.5);
  assert.not.ok(defineAgent({ name: 'b', compaction: { strategy: summarize() } }).toolbox.get(RECALL_TOOL));
  const custom: CompactionStrategy = { name: 'mine', compact: ({ messages }) => ({ messages: [...messages] }) };
  assert.is(defineAgent({ name: 'c', compaction: { at: 0.9, strategy: custom } }).compaction?.strategies[0], custom);
});

test('the compaction guard adds an estimate of the new messages to the recorded size of the last input', () => {
  const messages: Message[] = [{ role: 'user', content: 'x'.repeat(400) }, { role: 'assistant', content: 'y'.repeat(400) }];
  const context = (window: AgentContext['window'], step = 3) => ({ messages, step, window }) as unknown as AgentContext;
  assert.not.ok(inputExceedsCompactionShare(context(undefined)), 'an agent that does not compact never does');
  assert.not.ok(inputExceedsCompactionShare(context({ tokens: 50, messages: 1, compactAt: 200 })));
  assert.ok(inputExceedsCompactionShare(context({ tokens: 150, messages: 1, compactAt: 200 })), '150 + about 100 passes 200');
  assert.not.ok(inputExceedsCompactionShare(context({ tokens: 150, messages: 1, compactAt: 200, compactedAt: 3 })), 'at most once before a model call');
});

test('a compaction record is said in words', () => {
  assert.is(
    compactionWords({ strategy: 'summarize', before: { messages: 41, tokens: 9800 }, after: { messages: 12, tokens: 2100 }, usage: { inputTokens: 9000, outputTokens: 300 } }),
    'Compacted context: 41 → 12 messages, 9,800 → 2,100 tokens (summarize); the summary took 9,000 in / 300 out',
  );
  assert.match(compactionWords({ strategy: 'elideToolOutputs', before: { messages: 9, tokens: 900 }, after: { messages: 9, tokens: 300 }, elided: [{ id: 'a', index: 2 }] }), '(elideToolOutputs, 1 tool output elided)');
  assert.match(compactionWords({ strategy: '', before: { messages: 9, tokens: 900 }, after: { messages: 9, tokens: 900 } }), 'found nothing to change');
});

test.run();
