// The service under load, in its own process (forked by serviceBench.ts with an IPC channel): one
// agent whose model is the scripted OpenAI-compatible server at BENCH_MODEL_URL, on the store
// BENCH_STORE. Its JSON request log goes to stdout, which the bench points at /dev/null, so logging
// costs what it costs in production. It answers `stats` messages with its RSS, CPU time and event-loop
// delay and its main thread's run-queue wait, and `stop` by closing gracefully and exiting (which writes a --cpu-prof profile).
import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { z } from 'zod';
import { createOpenAIModel, defineAgent, defineTool } from '../src/index.ts';
import { createServer } from '../src/service/createServer.ts';

const lookup = defineTool({
  name: 'lookup',
  description: 'Look an order up.',
  parameters: z.object({ order: z.string() }),
  execute: ({ order }) => `order ${order}: shipped on Tuesday, two parcels, signed for at the door`,
});

const model = createOpenAIModel({ baseURL: process.env.BENCH_MODEL_URL!, apiKey: 'bench', model: 'gpt-4o-mini' });
const agent = defineAgent({ name: 'orders', instructions: 'Answer questions about orders; look them up first.', tools: [lookup], model });
const server = await createServer({ agents: [agent], store: process.env.BENCH_STORE!, port: 0, shutdownGraceMs: 15_000 });
const { url } = await server.listen();

const delay = monitorEventLoopDelay({ resolution: 10 });
delay.enable();
let maxRss = 0;
const sampler = setInterval(() => (maxRss = Math.max(maxRss, process.memoryUsage().rss)), 500);

/** The main thread's time on a CPU and waiting in the run queue for one (Linux), in ms: how much the machine's other work held it back. */
const schedstat = () => {
  try {
    const [onCpu, waiting] = readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ').map(Number);
    return { onCpuMs: onCpu! / 1e6, runQueueMs: waiting! / 1e6 };
  } catch {
    return { onCpuMs: NaN, runQueueMs: NaN };
  }
};

process.on('message', (message: { type: string }) => {
  if (message.type === 'stats') {
    const cpu = process.cpuUsage();
    process.send!({ type: 'stats', rss: process.memoryUsage().rss, maxRss, cpuMs: (cpu.user + cpu.system) / 1000, loopP99Ms: delay.percentile(99) / 1e6, loopMaxMs: delay.max / 1e6, ...schedstat() });
    delay.reset();
  } else if (message.type === 'stop') {
    clearInterval(sampler);
    void server.close().then(() => process.exit(0));
  }
});
process.send!({ type: 'listening', url });
