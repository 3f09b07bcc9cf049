// One 1,000-step run for the peak-RSS comparison, in plain Node (no TypeScript loader): `hand` is a
// loop on the openai client with a messages array; `runtime` and `sqlite` are Statecraft's runAgent
// from the built package (dist/), with no store and with a SQLite file. The tool returns about 1 KB.
// Usage: node bench/rssLoop.mjs <mode> <steps> <model URL>. Prints one JSON line with VmHWM.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';

const [mode, stepsArg, baseURL] = process.argv.slice(2);
const steps = Number(stepsArg);
const padding = 'x'.repeat(Number(process.env.BENCH_TOOL_BYTES ?? 1000));
const add = (a, b) => ({ sum: a + b, text: padding });
const addArguments = z.object({ a: z.number(), b: z.number() });

async function handRolled() {
  const { default: OpenAI } = await import('openai');
  const client = new OpenAI({ baseURL, apiKey: 'bench', maxRetries: 0 });
  const tools = [{ type: 'function', function: { name: 'add', description: 'Add two numbers.', strict: true, parameters: { type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } }, required: ['a', 'b'], additionalProperties: false } } }];
  const messages = [{ role: 'user', content: 'go' }];
  for (let turn = 0; turn < steps; turn++) {
    const stream = await client.chat.completions.create({ model: 'bench', messages, tools, stream: true, stream_options: { include_usage: true } });
    let content = '';
    const calls = [];
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
    if (calls.length === 0) return content;
    messages.push({ role: 'assistant', content: content || null, tool_calls: calls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } })) });
    for (const call of calls) {
      const args = addArguments.parse(JSON.parse(call.arguments));
      messages.push({ role: 'tool', tool_call_id: call.id, content: JSON.stringify(add(args.a, args.b)) });
    }
  }
  throw new Error('hand-rolled loop did not finish');
}

async function statecraft(withStore) {
  // BENCH_FROM_SRC=1 (under `node --import tsx`) runs the sources instead of the build.
  const entry = process.env.BENCH_FROM_SRC ? '../src/index.ts' : '../dist/src/index.js';
  const { createOpenAIModel, defineAgent, defineTool, openStore, runAgent } = await import(entry);
  const tool = defineTool({ name: 'add', description: 'Add two numbers.', parameters: addArguments, idempotent: true, execute: ({ a, b }) => add(a, b) });
  const agent = defineAgent({ name: 'bench', tools: [tool], limits: { maxSteps: steps + 1 } });
  const dir = withStore ? mkdtempSync(join(tmpdir(), 'statecraft-rss-')) : undefined;
  const store = dir ? openStore(`sqlite:${join(dir, 'runs.db')}`) : undefined;
  try {
    const model = createOpenAIModel({ baseURL, apiKey: 'bench', model: 'bench' });
    const result = await runAgent(agent, 'go', { model, ...(store ? { store } : {}) });
    if (result.status !== 'done' || result.steps !== steps) throw new Error(`run ended ${result.status} after ${result.steps} steps`);
    return result.output;
  } finally {
    await store?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}

// The peaks of V8's own counts, sampled, to tell heap from buffers and code in the RSS.
const peaks = { heapTotal: 0, heapUsed: 0, external: 0, arrayBuffers: 0 };
const sampler = setInterval(() => {
  const usage = process.memoryUsage();
  for (const key of Object.keys(peaks)) peaks[key] = Math.max(peaks[key], usage[key] / 2 ** 20);
}, 20);
const started = performance.now();
const answer = mode === 'hand' ? await handRolled() : await statecraft(mode === 'sqlite');
if (answer !== 'finished') throw new Error(`${mode} ended with ${JSON.stringify(answer)}`);
const ms = performance.now() - started;
clearInterval(sampler);
const kb = (field) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync('/proc/self/status', 'utf8'))[1]);
console.log(JSON.stringify({ mode, steps, msPerStep: ms / steps, peakRssMb: kb('VmHWM') / 1024, rssMb: kb('VmRSS') / 1024, peaks }));
