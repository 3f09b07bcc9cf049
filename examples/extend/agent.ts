// Extending the agent statechart: this agent may only finish with an answer that cites a source
// like [1]. A new guard and action are added with `agentSetup.extend`, and a new `nudge` state
// sends the model back with a reminder. Run it: statecraft run examples/extend/agent.ts
import { and, assign, not } from 'xstate';
import { agentConfig, agentSetup, defineAgent } from '../../src/index.ts';
import type { AgentContext } from '../../src/index.ts';
import type { Script } from '../../src/testing/index.ts';

const lastAnswer = (context: AgentContext) => {
  const last = context.messages.at(-1);
  return last?.role === 'assistant' ? (last.content ?? '') : '';
};

const { states } = agentConfig;

export const citingMachine = agentSetup
  .extend({
    guards: { cites: ({ context }) => /\[\d+\]/.test(lastAnswer(context)) },
    actions: {
      askForCitation: assign({
        messages: ({ context }) => [
          ...context.messages,
          { role: 'user' as const, content: 'Cite your source as [1] and list it at the end.' },
        ],
      }),
    },
  })
  .createMachine({
    ...agentConfig,
    id: 'citingAgent',
    states: {
      ...states,
      checkTermination: {
        always: [
          { guard: and(['finalAnswer', not('cites'), not('stepLimitReached')]), target: 'nudge' },
          ...[states!.checkTermination!.always!].flat(),
        ],
      },
      nudge: { entry: 'askForCitation', always: 'assemble' },
    },
  });

export const agent = defineAgent({
  name: 'citing-agent',
  instructions: 'Answer questions about XState. Cite sources as [n].',
  machine: citingMachine,
  limits: { maxSteps: 4 },
});

export const input = 'What does XState do with delayed transitions on restore?';

export const script: Script = [
  { content: 'Delayed transitions are not kept in a persisted snapshot.' },
  {
    expect: (request) => {
      if (!request.messages.at(-1)?.content?.includes('Cite your source')) throw new Error('expected the nudge');
    },
    content: 'Delayed transitions are not kept in a persisted snapshot [1].\n\n[1] XState docs, "Persistence".',
  },
];
