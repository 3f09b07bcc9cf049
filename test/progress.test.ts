import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createProgress } from '../src/cli/progress.ts';
import type { RunEvent, RunResult } from '../src/index.ts';

const runId = 'r1';
const usage = { inputTokens: 10, outputTokens: 5 };
const state = (step: number, costUsd: number): RunEvent => ({ type: 'state', runId, state: 'infer', tags: [], step, usage, costUsd });
const end = (costUsd: number): RunEvent => ({
  type: 'end',
  runId,
  result: { runId, status: 'done', reason: 'final_answer', steps: 1, usage, costUsd, output: 'ok' } as unknown as RunResult,
});

/** A clock that moves on 1.5 s each time it is read: the summary shows the time since the progress began. */
const clock = () => {
  let ms = 0;
  return () => (ms += 1500) - 1500;
};

const play = (events: RunEvent[]) => {
  let out = '';
  const progress = createProgress((text) => (out += text), false, clock());
  for (const event of events) progress(event);
  return out;
};

test('a retry ends the streamed line and says the text so far is discarded', () => {
  const out = play([
    { type: 'delta', runId, step: 0, text: 'Hello ' },
    { type: 'model.retry', runId, step: 0, attempt: 2, delayMs: 1500, reason: 'HTTP 429: Rate limit reached' },
    { type: 'delta', runId, step: 0, text: 'Hello world' },
  ]);
  assert.is(
    out,
    '  model: Hello \n  ↻ model call retried (attempt 2) in 1.5 s: HTTP 429: Rate limit reached; the text so far is discarded\n  model: Hello world',
  );
});

test('a refused call is printed with its reason', () => {
  const out = play([{ type: 'tool.refused', runId, callId: 'call_1', tool: 'add', status: 'invalid', reason: 'arguments were not JSON' }]);
  assert.is(out, '  ✗ add call_1: arguments were not JSON\n');
});

test('an unpriced model shows cost unknown, a priced one its cost', () => {
  const unpriced = play([{ type: 'model.answer', runId, step: 0, model: 'llama3', requestModel: 'llama3', provider: 'openai', usage, costUsd: null, finishReason: 'stop', durationMs: 900 }, state(1, 0), end(0)]);
  assert.match(unpriced, 'step 1 · infer · 15 tokens · cost unknown\n');
  assert.match(unpriced, 'done · final_answer · 1 steps · 15 tokens · cost unknown · 1.5 s\n');
  assert.match(unpriced, 'no price known for model llama3');
  assert.not.match(unpriced, '$0.0000');
  const priced = play([{ type: 'model.answer', runId, step: 0, model: 'gpt-4o', requestModel: 'gpt-4o', provider: 'openai', usage, costUsd: 0.0001, finishReason: 'stop', durationMs: 900 }, state(1, 0.0001), end(0.0001)]);
  assert.match(priced, '15 tokens · $0.0001 · 1.5 s\n');
  assert.not.match(priced, 'unknown');
});

test('each model turn streams on its own line: a new step or another agent starts one', () => {
  const answer = (step: number, actor?: string): RunEvent => ({ type: 'model.answer', runId, step, model: 'm', requestModel: 'm', provider: 'openai', usage, costUsd: 0, finishReason: 'stop', durationMs: 900, ...(actor ? { actor } : {}) });
  const out = play([
    { type: 'state', runId, state: 'infer', tags: [], step: 0, usage: { inputTokens: 0, outputTokens: 0 }, costUsd: 0 },
    { type: 'delta', runId, step: 0, text: 'First.' },
    answer(0),
    // The machine went back to the same state for the next turn: the step tells the turns apart.
    { type: 'state', runId, state: 'infer', tags: [], step: 1, usage, costUsd: 0 },
    { type: 'delta', runId, step: 1, text: 'Second.' },
    answer(1),
    { type: 'delta', runId, step: 0, text: 'Third.', actor: 'writer' },
  ]);
  assert.is(out, 'step 0 · infer · 0 tokens · $0.0000\n  model: First.\nstep 1 · infer · 15 tokens · $0.0000\n  model: Second.\n  model in writer: Third.');
});

test('tokens and turns of invoked agents count as they are spent, never twice', () => {
  const zero = { inputTokens: 0, outputTokens: 0 };
  const host = (state: string, tokens = zero): RunEvent => ({ type: 'state', runId, state, tags: [], step: 0, usage: tokens, costUsd: 0 });
  const out = play([
    host('research'),
    { type: 'model.answer', runId, step: 0, model: 'm', requestModel: 'm', provider: 'openai', usage, costUsd: 0.0002, finishReason: 'stop', durationMs: 900, actor: 'researcher' },
    host('write'),
    // A host that folds its children's usage into its own context shows it once.
    host('done', usage),
  ]);
  assert.is(out, 'step 0 · research · 0 tokens · $0.0000\nstep 1 · write · 15 tokens · $0.0002\nstep 1 · done · 15 tokens · $0.0002\n');
  assert.match(play([host('infer', { inputTokens: 100, outputTokens: 20 })]), '120 tokens', 'a resumed run\'s context counts the turns before it');
});

test('a failed tool is printed with its error; one that worked without', () => {
  const out = play([
    { type: 'tool.end', runId, callId: 'call_1', tool: 'send_email', isError: true, durationMs: 1.2, error: 'SMTP refused: mailbox full' },
    { type: 'tool.end', runId, callId: 'call_2', tool: 'lookup', isError: false, durationMs: 3 },
  ]);
  assert.is(out, '  ✗ send_email call_1 1 ms: SMTP refused: mailbox full\n  ✓ lookup call_2 3 ms\n');
});

test('every decision is printed: allowed by a policy, approved, rejected with its reason, in an invoked agent', () => {
  const out = play([
    { type: 'tool.decided', runId, callId: 'c1', tool: 'lookup', decision: 'allowed', by: 'always approved in this run' },
    { type: 'tool.decided', runId, callId: 'c2', tool: 'publish', decision: 'approved', by: 'ana', actor: 'writer' },
    { type: 'tool.decided', runId, callId: 'c3', tool: 'purge', decision: 'rejected', by: 'approval deadline', reason: 'No one approved it in time.' },
  ]);
  assert.is(
    out,
    '  ✓ lookup c1 allowed by policy (always approved in this run)\n' +
      '  ✓ publish c2 in writer approved by ana\n' +
      '  ✗ purge c3 rejected by approval deadline: No one approved it in time.\n',
  );
});

test('a failure whose detail quotes its error says it once', () => {
  const failed = (detail: string): RunEvent => ({
    type: 'end',
    runId,
    result: { runId, status: 'failed', reason: 'error', detail, steps: 0, usage, costUsd: 0, output: null, error: { name: 'ModelCallError', message: 'HTTP 500 after 5 attempts' } },
  });
  assert.is(play([failed('HTTP 500 after 5 attempts')]).match(/HTTP 500/g)?.length, 1);
  assert.match(play([failed('The agent machine stopped.')]), /The agent machine stopped\.\n  ModelCallError: HTTP 500 after 5 attempts\n/);
});

test('the summary at the end gives the time the run took, in minutes past one', () => {
  let ms = 0;
  const times = [0, 187_400];
  let out = '';
  const progress = createProgress((text) => (out += text), false, () => times[ms++]!);
  progress(end(0));
  assert.match(out, 'done · final_answer · 1 steps · 15 tokens · $0.0000 · 3 min 07 s\n');
});

test('colour codes are written only when asked for', () => {
  for (const color of [true, false]) {
    let out = '';
    const progress = createProgress((text) => (out += text), color, clock());
    progress(state(1, 0));
    progress(end(0));
    assert.is(out.includes('\x1b['), color);
  }
});

test.run();
