// The agent of the workers bench, as a deployment runs it: plain JavaScript on the built package, so
// `node bin/statecraft.js worker --agents bench/workersAgent.mjs` runs it without a TypeScript loader.
// Each run is 10 steps: nine turns that call `lookup`, then an answer (see workersFleet.ts's `reply`).
import { z } from 'zod';

// The bench itself (under tsx) submits runs with the same agent made from the sources.
const { createOpenAIModel, defineAgent, defineTool } = await import(process.env.BENCH_STATECRAFT_ENTRY || '../dist/src/index.js');

const lookup = defineTool({
  name: 'lookup',
  description: 'Look a key up.',
  parameters: z.object({ key: z.string() }),
  idempotent: true,
  execute: ({ key }) => `value of ${key}`,
});

export const agent = defineAgent({
  name: 'bench-worker',
  version: '1',
  instructions: 'Look things up, then answer.',
  model: createOpenAIModel({ baseURL: process.env.MODEL_URL ?? 'http://127.0.0.1:9/v1', apiKey: 'bench', model: 'scripted', retry: { maxRetries: 2 } }),
  tools: [lookup],
  limits: { maxSteps: 12 },
});
