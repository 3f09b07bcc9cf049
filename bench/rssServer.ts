// The scripted model for the peak-RSS comparison, in a process of its own so that its parsing of the
// growing history is counted in no runtime's memory: N-1 turns that each ask for one `add` call, then
// an answer, whatever the run. Prints its URL, and serves until its stdin closes.
import { startScriptedServer, type Script } from '../src/testing/index.ts';

const steps = Number(process.argv[2] ?? 1000);
// By the conversation, not the request count, so one server serves run after run.
const script: Script = (_, request) => {
  const index = request.messages.filter((message) => message.role === 'assistant').length;
  return index < steps - 1
    ? { toolCalls: [{ id: `call_${index}`, name: 'add', arguments: { a: index, b: 1 } }], usage: { inputTokens: 100, outputTokens: 10 } }
    : { content: 'finished', usage: { inputTokens: 100, outputTokens: 10 } };
};

const server = await startScriptedServer(script, { keepRequests: 1 });
process.stdout.write(`${server.url}\n`);
process.stdin.resume();
process.stdin.on('end', () => void server.close().then(() => process.exit(0)));
