// Composing agents: a statechart of your own invokes two agents as child actors, a researcher and
// then a writer, and the runtime runs the whole thing. Each child is a full agent loop with its own
// tools, limits and model turns; it keeps its own instructions and approval settings unless the
// input says otherwise, and its own limits unless the input's are tighter.
// Run it: statecraft run examples/compose/agent.ts
import { assign, setup } from 'xstate';
import { z } from 'zod';
import { agentMachine, defineAgent, defineTool } from '../../src/index.ts';
import type { AgentInput, AgentOutput } from '../../src/index.ts';
import type { Script } from '../../src/testing/index.ts';

const notes: Record<string, string> = {
  xstate: 'XState v5 persists snapshots as JSON; delayed events are not persisted.',
  statecharts: 'Statecharts add hierarchy, parallelism and history to state machines (Harel, 1987).',
};

const lookUp = defineTool({
  name: 'look_up',
  description: 'Look up a short note on a topic.',
  parameters: z.object({ topic: z.string() }),
  execute: ({ topic }) => notes[topic.toLowerCase()] ?? `No note on "${topic}". Known topics: ${Object.keys(notes).join(', ')}.`,
});

/** The model `statecraft run` plays the script as when no endpoint is set; it costs nothing. */
export const scriptModel = 'scripted';
// An invoked agent prices its model turns from its own table, so each agent that calls the model has it.
const prices = { [scriptModel]: { inputPerMTok: 0, outputPerMTok: 0 } };

const researcher = defineAgent({ name: 'researcher', instructions: 'Collect facts with look_up.', tools: [lookUp], prices });
// One model turn is all the writer needs: its own limit holds even though the host passes a looser one.
const writer = defineAgent({ name: 'writer', instructions: 'Write one clear paragraph from the notes.', limits: { maxSteps: 2 }, prices });

const sum = (a: AgentOutput['usage'], b: AgentOutput['usage']) => ({
  inputTokens: a.inputTokens + b.inputTokens,
  outputTokens: a.outputTokens + b.outputTokens,
});

/**
 * Each agent counts only its own tokens and cost against the limits it is given: the writer is given
 * what the researcher left of the run's budgets.
 */
const left = (limits: AgentInput['limits'], spent: AgentOutput | null): AgentInput['limits'] => {
  if (!limits || !spent) return limits;
  const used = spent.usage.inputTokens + spent.usage.outputTokens;
  return {
    ...limits,
    ...(limits.maxTokens === undefined ? {} : { maxTokens: Math.max(1, limits.maxTokens - used) }),
    ...(limits.maxCostUsd === undefined ? {} : { maxCostUsd: Math.max(Number.MIN_VALUE, limits.maxCostUsd - spent.costUsd) }),
  };
};

/** Research, then write; fails as soon as either child does not finish its job. */
export const pipelineMachine = setup({
  types: {
    input: {} as AgentInput,
    context: {} as { input: AgentInput; research: AgentOutput | null; draft: AgentOutput | null },
    output: {} as AgentOutput,
  },
  actors: { researcher: agentMachine, writer: agentMachine },
}).createMachine({
  id: 'pipeline',
  context: ({ input }) => ({ input, research: null, draft: null }),
  initial: 'research',
  states: {
    research: {
      invoke: {
        id: 'researcher',
        src: 'researcher',
        input: ({ context }) => ({ ...context.input, runId: `${context.input.runId}/researcher` }),
        onDone: [
          { guard: ({ event }) => event.output.status === 'done', target: 'write', actions: assign({ research: ({ event }) => event.output }) },
          { target: 'failed', actions: assign({ research: ({ event }) => event.output }) },
        ],
      },
    },
    write: {
      invoke: {
        id: 'writer',
        src: 'writer',
        input: ({ context }) => ({
          runId: `${context.input.runId}/writer`,
          input: `Notes:\n${context.research?.output ?? ''}`,
          limits: left(context.input.limits, context.research),
        }),
        onDone: { target: 'done', actions: assign({ draft: ({ event }) => event.output }) },
      },
    },
    done: { type: 'final' },
    failed: { type: 'final' },
  },
  output: ({ context }): AgentOutput => {
    const last = context.draft ?? context.research!;
    const usage = sum(context.research?.usage ?? last.usage, context.draft?.usage ?? { inputTokens: 0, outputTokens: 0 });
    const costUsd = (context.research?.costUsd ?? 0) + (context.draft?.costUsd ?? 0);
    return { ...last, usage, costUsd, steps: (context.research?.steps ?? 0) + (context.draft?.steps ?? 0) };
  },
});

export const agent = defineAgent({
  name: 'research-and-write',
  machine: pipelineMachine,
  agents: { researcher, writer },
  limits: { maxSteps: 5 },
});

export const input = 'Explain why Statecraft keeps deadlines as data.';

export const script: Script = [
  { toolCalls: [{ name: 'look_up', arguments: { topic: 'xstate' } }, { name: 'look_up', arguments: { topic: 'statecharts' } }] },
  (request) => ({ content: request.messages.filter((m) => m.role === 'tool').map((m) => m.content).join('\n') }),
  (request) => ({
    content: `In short: ${request.messages.at(-1)!.content!.split('\n')[1]} A deadline kept in context survives a restore; a timer would not.`,
  }),
];
