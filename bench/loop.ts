// One benchmark run in this process: an N-step tool-calling loop against the scripted server,
// either hand-rolled on the openai client or through the Statecraft runtime. Prints one JSON line.
import OpenAI from 'openai';
import { z } from 'zod';
import { createOpenAIModel, defineAgent, defineTool, runAgent } from '../src/index.ts';
import { startScriptedServer, type Script } from '../src/testing/index.ts';

const [mode = 'runtime', stepsArg = '100'] = process.argv.slice(2);
const steps = Number(stepsArg);

const script: Script = (index) =>
  index < steps - 1
    ? { toolCalls: [{ id: `call_${index}`, name: 'add', arguments: { a: index, b: 1 } }], usage: { inputTokens: 100, outputTokens: 10 } }
    : index === steps - 1
      ? { content: 'finished', usage: { inputTokens: 100, outputTokens: 10 } }
      : undefined;

const add = (a: number, b: number) => ({ sum: a + b });

async function handRolled(baseURL: string) {
  const client = new OpenAI({ baseURL, apiKey: 'bench', maxRetries: 0 });
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
  const messages: OpenAI.Chat.ChatCompletionMessageParam[] = [{ role: 'user', content: 'go' }];
  for (let turn = 0; turn < steps; turn++) {
    const stream = await client.chat.completions.create({ model: 'bench', messages, tools, stream: true, stream_options: { include_usage: true } });
    let content = '';
    const calls: { id: string; name: string; arguments: string }[] = [];
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
    messages.push({
      role: 'assistant',
      content: content || null,
      tool_calls: calls.map((c) => ({ id: c.id, type: 'function' as const, function: { name: c.name, arguments: c.arguments } })),
    });
    for (const call of calls) {
      const args = z.object({ a: z.number(), b: z.number() }).parse(JSON.parse(call.arguments));
      messages.push({ role: 'tool', tool_call_id: call.id, content: JSON.stringify(add(args.a, args.b)) });
    }
  }
  throw new Error('hand-rolled loop did not finish');
}

async function runtime(baseURL: string) {
  const tool = defineTool({
    name: 'add',
    description: 'Add two numbers.',
    parameters: z.object({ a: z.number(), b: z.number() }),
    execute: ({ a, b }) => add(a, b),
  });
  const model = createOpenAIModel({ baseURL, apiKey: 'bench', model: 'bench' });
  const agent = defineAgent({ name: 'bench', tools: [tool], model, limits: { maxSteps: steps + 1 } });
  const result = await runAgent(agent, 'go');
  if (result.status !== 'done' || result.steps !== steps) throw new Error(`runtime run ended ${result.status} after ${result.steps} steps`);
  return result.output;
}

const server = await startScriptedServer(script, { keepRequests: 1 });
try {
  const started = process.hrtime.bigint();
  if (mode === 'hand') await handRolled(server.url);
  else if (mode === 'runtime') await runtime(server.url);
  else throw new Error(`unknown mode ${mode}`);
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  const peakRssMb = process.resourceUsage().maxRSS / 1024;
  console.log(JSON.stringify({ mode, steps, ms, msPerStep: ms / steps, peakRssMb }));
} finally {
  await server.close();
}
