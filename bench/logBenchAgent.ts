// The agent of the log benchmarks: a pure tool, and one that needs approval to end a run waiting.
import { z } from 'zod';
import { defineAgent, defineTool } from '../src/index.ts';

const add = defineTool({ name: 'add', description: 'Add.', parameters: z.object({ a: z.number(), b: z.number() }), idempotent: true, execute: ({ a, b }) => ({ sum: a + b }) });
const publish = defineTool({ name: 'publish', description: 'Publish.', parameters: z.object({ text: z.string() }), needsApproval: true, execute: () => 'published' });
export const agent = defineAgent({ name: 'log-bench', tools: [add, publish], limits: { maxSteps: 100_000 } });
