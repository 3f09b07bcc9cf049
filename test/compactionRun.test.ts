import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { z } from 'zod';
import { createOpenAIModel, defineAgent, defineTool, elideToolOutputs, history, RECALL_TOOL, replayRun, runAgent, SqliteStore, stateAt, summarize } from '../src/index.ts';
import type { AgentContext, Message } from '../src/index.ts';
import { RecordRows } from '../src/inspector/recordRows.ts';
import { tokenCounterFor } from '../src/model/tokenCounter.ts';
import { pairingProblem } from '../src/runtime/compaction/turns.ts';
import { startScriptedServer, type ScriptRequest } from '../src/testing/index.ts';

const dir = mkdtempSync(join(tmpdir(), 'statecraft-compaction-'));
const WINDOW = 2_000;
const TURNS = 500;

const page = (n: number) => `Page ${n}: ${'lorem ipsum dolor sit amet '.repeat(30)}(end of page ${n})`;
const readPage = defineTool({
  name: 'read_page',
  description: 'Read one page of the book.',
  parameters: z.object({ n: z.number() }),
  idempotent: true,
  execute: ({ n }) => page(n),
});

/** Every tool result follows the assistant message that called it, and no tool message stands alone. */
function assertPaired(messages: readonly Message[], where: string) {
  assert.is(pairingProblem(messages), undefined, `${where}: ${pairingProblem(messages)}`);
  const last = messages.at(-1);
  if (last?.role === 'assistant') assert.not.ok(last.toolCalls?.length, `${where}: the request ends with calls that have no results`);
}

test('a 500-turn run with a small window never passes it, never parts a call from its result, replays without divergence, and time travel shows the context before and after each compaction', async () => {
  const counter = await tokenCounterFor({ provider: 'openai', model: 'gpt-4o-mini' });
  let turns = 0;
  let summaries = 0;
  let recalls = 0;
  let recalled: { id: string; page: number } | undefined;
  const largest = { tokens: 0 };
  const script = (_: number, request: ScriptRequest) => {
    const tokens = counter.request(request.messages);
    largest.tokens = Math.max(largest.tokens, tokens);
    if (tokens > WINDOW) throw new Error(`request of ${tokens} tokens passes the window of ${WINDOW}`);
    if (request.tools.length === 0) {
      summaries++;
      assert.match(request.messages[1]!.content ?? '', /Tool read_page/);
      return { content: `So far the agent read pages up to ${turns}.`, usage: { inputTokens: tokens, outputTokens: 12 } };
    }
    assertPaired(request.messages, `request of turn ${turns + 1}`);
    const usage = { inputTokens: tokens, outputTokens: 10 };
    turns++;
    if (turns > TURNS) return { content: `Read ${TURNS} pages.`, usage };
    // Once outputs have been elided, the model reads one back, and the next turn checks what came back.
    const previous = request.messages.at(-1);
    if (recalled && previous?.role === 'tool' && previous.name === RECALL_TOOL) {
      assert.is(previous.content, page(recalled.page), 'the recalled output is the one elided');
      recalled = undefined;
      recalls++;
    }
    const stub = request.messages.find((m) => m.role === 'tool' && m.name === 'read_page' && m.content.includes(RECALL_TOOL));
    if (turns % 97 === 0 && stub?.role === 'tool') {
      const id = /"id":"([^"]+)"/.exec(stub.content)![1]!;
      const call = request.messages.flatMap((m) => (m.role === 'assistant' ? (m.toolCalls ?? []) : [])).find((c) => c.id === stub.toolCallId)!;
      recalled = { id, page: (JSON.parse(call.arguments) as { n: number }).n };
      return { toolCalls: [{ id: `r${turns}`, name: RECALL_TOOL, arguments: { id } }], usage };
    }
    return { toolCalls: [{ id: `p${turns}`, name: 'read_page', arguments: { n: turns } }], usage };
  };
  const server = await startScriptedServer(script);
  const store = new SqliteStore({ path: join(dir, 'runs.db') });
  try {
    const model = createOpenAIModel({ baseURL: server.url, apiKey: 'test', model: 'gpt-4o-mini' });
    const agent = defineAgent({
      name: 'reader',
      instructions: 'Read the book page by page.',
      tools: [readPage],
      model,
      maxContextTokens: WINDOW,
      limits: { maxSteps: TURNS + 10 },
      compaction: { at: 0.8, target: 0.5, strategy: [elideToolOutputs({ keepLast: 2 }), summarize({ keepLast: 3 })] },
    });
    const result = await runAgent(agent, 'Read every page, then say how many you read.', { store });
    server.assertDone();
    assert.is(result.status, 'done', result.detail);
    assert.is(result.output, `Read ${TURNS} pages.`);
    assert.is(result.steps, TURNS + 1);
    assert.ok(summaries >= 5, `the model wrote ${summaries} summaries`);
    assert.ok(recalls >= 3, `the model read ${recalls} elided outputs back`);
    assert.ok(largest.tokens <= WINDOW && largest.tokens > WINDOW / 2, `largest request ${largest.tokens} tokens`);

    // The summaries' tokens count against the run's budgets, like any model turn.
    const agentTurns = server.requests.filter((r) => r.tools.length > 0).length;
    assert.is(agentTurns, TURNS + 1);
    const summed = server.requests.reduce((n, r) => n + counter.request(r.messages), 0);
    assert.is(result.usage.inputTokens, summed, 'every request, summaries included, is in the usage');

    const report = await replayRun(agent, result.runId, { store });
    assert.ok(report.ok, JSON.stringify(report.divergence)?.slice(0, 400));

    const records = await history(store, result.runId);
    const compactions = records.filter((r) => r.eventType === 'xstate.done.actor.compactContext');
    assert.ok(compactions.length >= summaries, `${compactions.length} compactions`);
    const summarized = compactions.find((r) => (r.event as { output?: { strategy?: string } }).output?.strategy?.includes('summarize'))!;
    const before = (await stateAt(store, result.runId, summarized.seq - 1)) as unknown as { context: AgentContext };
    const after = (await stateAt(store, result.runId, summarized.seq)) as unknown as { context: AgentContext };
    assert.ok(after.context.messages.length < before.context.messages.length, `${before.context.messages.length} → ${after.context.messages.length} messages`);
    assert.equal(after.context.messages.slice(0, 2), before.context.messages.slice(0, 2), 'the system prompt and the task are pinned');
    assert.match(String(after.context.messages[2]!.content), /So far the agent read pages up to/);
    assert.ok(after.context.usage.inputTokens > before.context.usage.inputTokens, 'the summary is counted when it is applied');
    assertPaired(after.context.messages, `context after record ${summarized.seq}`);
    const elided = Object.keys(after.context.elided ?? {});
    assert.ok(elided.length > 0, 'elided outputs are kept in the context');
    assert.match(after.context.elided![elided[0]!]!, /^Page \d+: lorem/);

    const { rows } = await new RecordRows(store).range(result.runId, summarized.seq, summarized.seq);
    assert.is(rows[0]!.kind, 'compaction');
    assert.match(rows[0]!.label, /^Compacted context: [\d,]+ → [\d,]+ messages, [\d,]+ → [\d,]+ tokens \(.*summarize.*\); the summary took/);
    assert.is(rows[0]!.state, 'infer', 'after compaction the run asks the model');
  } finally {
    await store.close();
    await server.close();
  }
});

test('an agent that compacts on a model whose window is unknown fails at its first call, saying what to set', async () => {
  const server = await startScriptedServer([]);
  try {
    const model = createOpenAIModel({ baseURL: server.url, apiKey: 'test', model: 'my-local-model' });
    const agent = defineAgent({ name: 'local', model, compaction: { strategy: summarize() } });
    const result = await runAgent(agent, 'Hello');
    assert.is(result.status, 'failed');
    assert.match(result.detail, /Agent "local" compacts its context .* window of model "my-local-model" is unknown\. Set maxContextTokens/);
    assert.is(server.requests.length, 0, 'no request was sent');
  } finally {
    await server.close();
  }
});

test.after(() => rmSync(dir, { recursive: true, force: true }));

test.run();
