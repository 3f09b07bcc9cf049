import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { z } from 'zod';
import { defineTool, type ToolContext, type ToolDefinition } from '../src/tools/defineTool.ts';
import { runTool, type RunToolOptions } from '../src/tools/runTool.ts';
import { noSecrets } from '../src/credentials/Secrets.ts';

const params = z.object({ n: z.number() });
type Params = typeof params;

const makeTool = (execute: ToolDefinition<Params>['execute'], extra: Partial<ToolDefinition<Params>> = {}) =>
  defineTool({ name: 'probe', description: 'A probe.', parameters: params, execute, ...extra });

const options = (extra: Partial<RunToolOptions> = {}): RunToolOptions => ({
  ctx: { runId: 'run_1', callId: 'call_1', idempotencyKey: 'run_1:call_1', toolName: 'probe', secrets: noSecrets },
  ...extra,
});

const never = (): Promise<never> => new Promise(() => {});

test('string output is passed as is, other values as JSON, undefined as a note', async () => {
  const text = await runTool(makeTool(() => 'plain text'), { n: 1 }, options());
  assert.equal([text.content, text.isError, text.truncated, text.attempts], ['plain text', false, false, 1]);
  assert.is(text.error, undefined);
  assert.ok(text.durationMs >= 0);
  const json = await runTool(makeTool(async ({ n }) => ({ doubled: n * 2, list: [1] })), { n: 4 }, options());
  assert.is(json.content, '{"doubled":8,"list":[1]}');
  const nothing = await runTool(makeTool(() => undefined), { n: 1 }, options());
  assert.is(nothing.content, '(no output)');
  assert.is(nothing.isError, false);
});

test('the tool receives its context with a signal and the attempt number', async () => {
  let seen: ToolContext | undefined;
  await runTool(makeTool((_args, ctx) => void (seen = ctx)), { n: 1 }, options());
  assert.ok(seen);
  assert.equal(
    [seen?.runId, seen?.callId, seen?.idempotencyKey, seen?.toolName, seen?.attempt, seen?.signal.aborted],
    ['run_1', 'call_1', 'run_1:call_1', 'probe', 1, false],
  );
});

test('a thrown error becomes an error result telling the model what failed', async () => {
  const result = await runTool(makeTool(() => { throw new Error('disk full'); }), { n: 1 }, options());
  assert.is(result.isError, true);
  assert.equal(result.error, { kind: 'thrown', message: 'disk full' });
  assert.is(result.content, 'Tool "probe" failed: disk full');
  const rejected = await runTool(makeTool(() => Promise.reject('plain reason')), { n: 1 }, options());
  assert.equal(rejected.error, { kind: 'thrown', message: 'plain reason' });
});

test('an output that cannot be serialised is an error, not a crash', async () => {
  const circular: Record<string, unknown> = {};
  circular.self = circular;
  const result = await runTool(makeTool(() => circular), { n: 1 }, options());
  assert.is(result.isError, true);
  assert.is(result.error?.kind, 'thrown');
  assert.match(result.content, 'cannot be sent as text');
});

test('retries count attempts and keep the idempotency key', async () => {
  const calls: [number, string][] = [];
  const tool = makeTool(
    (_args, ctx) => {
      calls.push([ctx.attempt, ctx.idempotencyKey]);
      if (ctx.attempt < 3) throw new Error(`flaky ${ctx.attempt}`);
      return 'finally';
    },
    { retries: { max: 3, backoffMs: 1 } },
  );
  const result = await runTool(tool, { n: 1 }, options());
  assert.equal([result.content, result.attempts, result.isError], ['finally', 3, false]);
  assert.equal(calls, [[1, 'run_1:call_1'], [2, 'run_1:call_1'], [3, 'run_1:call_1']]);
});

test('when retries run out the last error is reported with the attempt count', async () => {
  let count = 0;
  const tool = makeTool(() => { count += 1; throw new Error(`boom ${count}`); }, { retries: { max: 2, backoffMs: 0 } });
  const result = await runTool(tool, { n: 1 }, options());
  assert.is(count, 3);
  assert.is(result.attempts, 3);
  assert.equal(result.error, { kind: 'thrown', message: 'boom 3' });
  assert.match(result.content, 'failed after 3 attempts: boom 3');
});

test('a timeout aborts the attempt signal and the tool sees it', async () => {
  const seen: boolean[] = [];
  const tool = makeTool(
    (_args, ctx) =>
      new Promise((_resolve, reject) => {
        ctx.signal.addEventListener('abort', () => {
          seen.push(ctx.signal.aborted);
          reject(new Error('stopped by signal'));
        });
      }),
    { timeoutMs: 20 },
  );
  const result = await runTool(tool, { n: 1 }, options());
  assert.equal(seen, [true]);
  assert.is(result.isError, true);
  assert.is(result.error?.kind, 'timeout');
  assert.match(result.error?.message ?? '', 'timed out after 20 ms');
  assert.match(result.content, 'did not finish within 20 ms');
});

test('timeouts are retried, and the default timeout applies when the tool sets none', async () => {
  const attempts: number[] = [];
  const tool = makeTool((_args, ctx) => { attempts.push(ctx.attempt); return never(); }, { retries: { max: 1, backoffMs: 0 } });
  const result = await runTool(tool, { n: 1 }, options({ defaultTimeoutMs: 15 }));
  assert.equal(attempts, [1, 2]);
  assert.is(result.attempts, 2);
  assert.is(result.error?.kind, 'timeout');
});

test('cancelling stops at once even when the tool ignores its signal, and is not retried', async () => {
  const controller = new AbortController();
  let started = 0;
  const tool = makeTool(() => {
    started += 1;
    setTimeout(() => controller.abort(new Error('user pressed stop')), 5);
    return never();
  }, { retries: 5, timeoutMs: 600_000 });
  const result = await runTool(tool, { n: 1 }, options({ signal: controller.signal }));
  assert.is(started, 1);
  assert.is(result.attempts, 1);
  assert.is(result.isError, true);
  assert.equal(result.error, { kind: 'cancelled', message: 'user pressed stop' });
  assert.match(result.content, 'was cancelled');
});

test('cancelling during the backoff between retries stops without another attempt', async () => {
  const controller = new AbortController();
  let started = 0;
  const tool = makeTool(() => {
    started += 1;
    setTimeout(() => controller.abort(), 5);
    throw new Error('transient');
  }, { retries: { max: 3, backoffMs: 600_000 } });
  const result = await runTool(tool, { n: 1 }, options({ signal: controller.signal }));
  assert.is(started, 1);
  assert.is(result.error?.kind, 'cancelled');
});

test('an already cancelled call never starts the tool', async () => {
  let started = false;
  const result = await runTool(makeTool(() => { started = true; }), { n: 1 }, options({ signal: AbortSignal.abort() }));
  assert.is(started, false);
  assert.is(result.attempts, 0);
  assert.is(result.error?.kind, 'cancelled');
});

test('long output is cut to the cap with a note saying how much was dropped', async () => {
  const output = 'abcdefghij'.repeat(100);
  const result = await runTool(makeTool(() => output), { n: 1 }, options({ maxOutputChars: 300 }));
  assert.is(result.truncated, true);
  assert.ok(result.content.length <= 300, `length ${result.content.length}`);
  const match = /\[Output cut: (\d+) of 1000 characters were dropped\. Ask for less/.exec(result.content);
  assert.ok(match, result.content);
  const kept = result.content.indexOf('\n\n[Output cut');
  assert.is(kept + Number(match?.[1]), 1000);
  assert.ok(output.startsWith(result.content.slice(0, kept)));
});

test('output is redacted before it is cut: a cut inside a secret leaves no part of it', async () => {
  const secret = 'sk-live-0123456789abcdef';
  const redact = (text: string) => text.replaceAll(secret, '[redacted:key]');
  // The note takes 133 of the 300 characters of a 1,000-character output: 167 are kept, so every
  // offset below puts the cut inside the secret.
  for (let inside = 1; inside < secret.length; inside++) {
    const head = 'x'.repeat(167 - inside) + secret;
    const output = head + 'y'.repeat(1000 - head.length);
    const result = await runTool(makeTool(() => output), { n: 1 }, options({ maxOutputChars: 300, redact }));
    assert.is(result.truncated, true);
    const kept = result.content.slice(0, result.content.indexOf('\n\n[Output cut'));
    assert.not.ok(kept.endsWith(secret.slice(0, inside)), `cut ${inside} characters into the secret: ${kept.slice(-30)}`);
    assert.ok(`${'x'.repeat(167 - inside)}[redacted:key]${'y'.repeat(1000)}`.startsWith(kept), kept.slice(-30));
  }
  const failed = await runTool(makeTool(() => { throw new Error(`denied for ${secret}`); }), { n: 1 }, options({ redact }));
  assert.match(failed.content, 'denied for [redacted:key]');
  assert.equal(failed.error, { kind: 'thrown', message: 'denied for [redacted:key]' });
});

test('the tool cap wins over the caller default, and the 20000 default applies', async () => {
  const capped = await runTool(makeTool(() => 'x'.repeat(500), { maxOutputChars: 200 }), { n: 1 }, options({ maxOutputChars: 10_000 }));
  assert.ok(capped.truncated && capped.content.length <= 200);
  const fits = await runTool(makeTool(() => 'x'.repeat(20_000)), { n: 1 }, options());
  assert.is(fits.truncated, false);
  const over = await runTool(makeTool(() => 'x'.repeat(20_001)), { n: 1 }, options());
  assert.is(over.truncated, true);
  assert.match(over.content, 'characters were dropped');
});

test('a tool that first reads its signal after the attempt timed out finds it aborted, with the timeout as reason', async () => {
  let late: AbortSignal | undefined;
  let ctxSeen: { signal: AbortSignal } | undefined;
  const tool = makeTool((_args, ctx) => { ctxSeen = ctx; return never(); }, { timeoutMs: 10 });
  const result = await runTool(tool, { n: 1 }, options());
  assert.is(result.error?.kind, 'timeout');
  late = ctxSeen!.signal;
  assert.is(late.aborted, true);
  assert.match(String((late.reason as Error).message), 'timed out after 10 ms');
});

test.run();
