// The model the service's agent calls, in its own process (forked by serviceBench.ts): the scripted
// OpenAI-compatible server. Each run asks twice: the first answer (after BENCH_MODEL_MS) calls the
// `lookup` tool, the second (after BENCH_MODEL_MS too) streams a short answer in chunks
// BENCH_CHUNK_MS apart, as a model writes, so that a run lasts a few seconds and its followers see
// text arrive.
import { startScriptedServer, type ScriptRequest } from '../src/testing/index.ts';

const delayMs = Number(process.env.BENCH_MODEL_MS ?? 200);
const chunkDelayMs = Number(process.env.BENCH_CHUNK_MS ?? 400);

const answer = (_index: number, request: ScriptRequest) => {
  const last = request.messages.at(-1);
  if (last?.role === 'tool') return { content: `Your order was found. ${last.content}. Anything else I can do?`, delayMs, chunkDelayMs };
  return { toolCalls: [{ name: 'lookup', arguments: { order: 'A1' } }], delayMs };
};

const server = await startScriptedServer(answer, { keepRequests: 0 });
process.on('message', (message: { type: string }) => {
  if (message.type === 'stop') void server.close().then(() => process.exit(0));
});
process.send!({ type: 'listening', url: server.url });
