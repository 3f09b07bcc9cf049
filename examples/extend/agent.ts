// Extending the agent statechart: this agent may only finish with an answer that cites a source
// like [1]. A new guard and action are added with `agentSetup.extend`, and a new `nudge` state
// asks the model again with a reminder. Run it: statecraft run examples/extend/agent.ts, and
// `statecraft history <run>` shows the run going infer -> nudge -> done.
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
      // A state the run rests in while the model is asked again, so progress and history show it: one
      // that only passes control on (`always: 'assemble'`) is left within the same transition and is
      // never recorded. It is `infer` (the model call, its outcomes) with the reminder added on entry.
      nudge: { ...states!.infer, entry: 'askForCitation' },
    },
  });

/** The model `statecraft run` plays the script as when no endpoint is set; it costs nothing. */
export const scriptModel = 'scripted';

export const agent = defineAgent({
  name: 'citing-agent',
  instructions: 'Answer questions about XState. Cite sources as [n].',
  machine: citingMachine,
  limits: { maxSteps: 4 },
  prices: { [scriptModel]: { inputPerMTok: 0, outputPerMTok: 0 } },
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
