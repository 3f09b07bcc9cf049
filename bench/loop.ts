// One benchmark run in this process: an N-step tool-calling loop against the scripted server,
// either hand-rolled on the openai client or through the Statecraft runtime. Prints one JSON line.
import OpenAI from 'openai';
import { assign, createActor, fromPromise, setup, toPromise } from 'xstate';
import { z } from 'zod';
import { createOpenAIModel, defineAgent, defineTool, runAgent } from '../src/index.ts';
import { startScriptedServer, type Script } from '../src/testing/index.ts';
import { openStore, type RunStore } from '../src/index.ts';
import { mkdtempSync, rmSync, statSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

const [mode = 'runtime', stepsArg = '100'] = process.argv.slice(2);
const steps = Number(stepsArg);

const script: Script = (index) =>
  index < steps - 1
    ? { toolCalls: [{ id: `call_${index}`, name: 'add', arguments: { a: index, b: 1 } }], usage: { inputTokens: 100, outputTokens: 10 } }
    : index === steps - 1
      ? { content: 'finished', usage: { inputTokens: 100, outputTokens: 10 } }
      : undefined;

// BENCH_TOOL_BYTES=1000 gives the tool's result about that much text, as a tool that reads a file or a page would.
const padding = 'x'.repeat(Number(process.env.BENCH_TOOL_BYTES ?? 0));
const add = (a: number, b: number) => (padding ? { sum: a + b, text: padding } : { sum: a + b });
// Made once, as the runtime's tool makes its schema once: zod compiles a parser for each new schema it parses with.
const addArguments = z.object({ a: z.number(), b: z.number() });

const tools = [
  {
    type: 'function' as const,
    function: {
      name: 'add',
      description: 'Add two numbers.',
      strict: true,
      parameters: { type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } }, required: ['a', 'b'], additionalProperties: false },
    },
  },
];
type Messages = OpenAI.Chat.ChatCompletionMessageParam[];
type Call = { id: string; name: string; arguments: string };

/** One model turn by hand: stream the answer and gather its text and tool calls. */
async function modelTurn(client: OpenAI, messages: Messages) {
  const stream = await client.chat.completions.create({ model: 'bench', messages, tools, stream: true, stream_options: { include_usage: true } });
  let content = '';
  const calls: Call[] = [];
  for await (const chunk of stream) {
    const delta = chunk.choices[0]?.delta;
    if (delta?.content) content += delta.content;
    for (const call of delta?.tool_calls ?? []) {
      const slot = (calls[call.index] ??= { id: '', name: '', arguments: '' });
      if (call.id) slot.id = call.id;
      if (call.function?.name) slot.name += call.function.name;
      if (call.function?.arguments) slot.arguments += call.function.arguments;
    }
  }
  return { content, calls };
}

const assistant = (content: string, calls: Call[]): OpenAI.Chat.ChatCompletionMessageParam => ({
  role: 'assistant',
  content: content || null,
  tool_calls: calls.map((c) => ({ id: c.id, type: 'function' as const, function: { name: c.name, arguments: c.arguments } })),
});

const toolResults = (calls: Call[]): Messages =>
  calls.map((call) => {
    const args = addArguments.parse(JSON.parse(call.arguments));
    return { role: 'tool', tool_call_id: call.id, content: JSON.stringify(add(args.a, args.b)) };
  });

async function handRolled(baseURL: string) {
  const client = new OpenAI({ baseURL, apiKey: 'bench', maxRetries: 0 });
  const messages: Messages = [{ role: 'user', content: 'go' }];
  for (let turn = 0; turn < steps; turn++) {
    const { content, calls } = await modelTurn(client, messages);
    if (calls.length === 0) return content;
    messages.push(assistant(content, calls), ...toolResults(calls));
  }
  throw new Error('hand-rolled loop did not finish');
}

/**
 * For scale: the same work as the hand-rolled loop, as the smallest XState loop, two states that
 * each invoke a promise (the model turn, then the tools). What XState itself costs on this machine.
 */
async function bareXState(baseURL: string) {
  const client = new OpenAI({ baseURL, apiKey: 'bench', maxRetries: 0 });
  type Turn = Awaited<ReturnType<typeof modelTurn>>;
  const loop = setup({
    types: { context: {} as { messages: Messages; turn: Turn | null } },
    actors: {
      infer: fromPromise<Turn, Messages>(({ input }) => modelTurn(client, input)),
      execute: fromPromise<Messages, Call[]>(async ({ input }) => toolResults(input)),
    },
  }).createMachine({
    context: { messages: [{ role: 'user', content: 'go' }], turn: null },
    initial: 'infer',
    states: {
      infer: {
        invoke: {
          src: 'infer',
          input: ({ context }) => context.messages,
          onDone: [
            { guard: ({ event }) => event.output.calls.length === 0, target: 'done', actions: assign({ turn: ({ event }) => event.output }) },
            { target: 'execute', actions: assign(({ context, event }) => ({ turn: event.output, messages: [...context.messages, assistant(event.output.content, event.output.calls)] })) },
          ],
        },
      },
      execute: {
        invoke: {
          src: 'execute',
          input: ({ context }) => context.turn!.calls,
          onDone: { target: 'infer', actions: assign({ messages: ({ context, event }) => [...context.messages, ...event.output] }) },
        },
      },
      done: { type: 'final' },
    },
  });
  const actor = createActor(loop).start();
  await toPromise(actor);
  return actor.getSnapshot().context.turn?.content;
}

// Defined once per process, as an application defines its agents at load; each run is timed from its start.
const tool = defineTool({
  name: 'add',
  description: 'Add two numbers.',
  parameters: z.object({ a: z.number(), b: z.number() }),
  // A pure function: safe to run again after a crash, so its start needs no fsync (BENCH_UNSAFE_TOOL=1 measures one that does).
  idempotent: !process.env.BENCH_UNSAFE_TOOL,
  execute: ({ a, b }) => add(a, b),
});
const agent = defineAgent({ name: 'bench', tools: [tool], limits: { maxSteps: steps + 1 } });

async function runtime(baseURL: string, store?: RunStore) {
  const model = createOpenAIModel({ baseURL, apiKey: 'bench', model: 'bench' });
  const result = await runAgent(agent, 'go', { model, ...(store ? { store } : {}) });
  if (result.status !== 'done' || result.steps !== steps) throw new Error(`runtime run ended ${result.status} after ${result.steps} steps`);
  return result.output;
}

const PG_URL = process.env.STATECRAFT_BENCH_PG ?? 'postgres://postgres@127.0.0.1:5432/test';
const server = await startScriptedServer(script, { keepRequests: 1 });
const dir = mkdtempSync(join(tmpdir(), 'statecraft-bench-'));
const schema = `bench_${process.pid}`;
let store: RunStore | undefined;
if (mode === 'sqlite') store = openStore(`sqlite:${join(dir, 'runs.db')}`);
if (mode === 'postgres') store = openStore(`${PG_URL}?schema=${schema}`);
try {
  const started = process.hrtime.bigint();
  const cpuBefore = process.cpuUsage();
  const eluBefore = performance.eventLoopUtilization();
  if (mode === 'hand' || mode === 'xstate') {
    const answer = await (mode === 'hand' ? handRolled(server.url) : bareXState(server.url));
    if (answer !== 'finished') throw new Error(`${mode} loop ended with ${JSON.stringify(answer)}, not the script's final answer`);
  }
  else if (mode === 'runtime' || store) await runtime(server.url, store);
  else throw new Error(`unknown mode ${mode}`);
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  const cpu = process.cpuUsage(cpuBefore);
  const busy = performance.eventLoopUtilization(eluBefore).active;
  const peakRssMb = process.resourceUsage().maxRSS / 1024;
  await store?.close();
  let storedBytes: number | undefined;
  if (mode === 'sqlite') storedBytes = readdirSync(dir).reduce((sum, file) => sum + statSync(join(dir, file)).size, 0);
  if (mode === 'postgres') {
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    const { rows } = await client.query(
      `select coalesce(sum(pg_total_relation_size(format('%I.%I', schemaname, tablename))), 0)::bigint as bytes from pg_tables where schemaname = $1`,
      [schema],
    );
    storedBytes = Number(rows[0].bytes);
    await client.query(`drop schema if exists ${schema} cascade`);
    await client.end();
  }
  console.log(JSON.stringify({ mode, steps, ms, msPerStep: ms / steps, cpuMsPerStep: (cpu.user + cpu.system) / 1000 / steps, busyMsPerStep: busy / steps, peakRssMb, storedBytes }));
} finally {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
}
