import { modelFacts } from '../model/modelFacts.ts';
import { countsExactly, estimatingCounter, surelyFits, tokenCounterFor, type TokenCounter } from '../model/tokenCounter.ts';
import type { Message } from '../protocol/messages.ts';
import type { ModelInfo } from '../protocol/model.ts';
import { assembleMessages } from './assembleMessages.ts';
import type { Agent } from './defineAgent.ts';

/** Output tokens kept free of a window whose model's longest answer no source gives. */
const OUTPUT_SHARE = 0.25;
const OUTPUT_MOST = 16_384;

/**
 * The input tokens a model request may hold: the agent's `maxContextTokens`, else the model's context
 * window (from a price file or the catalogue) less room for its answer; undefined when neither is known.
 */
export function inputBudget(agent: Pick<Agent, 'maxContextTokens' | 'prices'>, model: string): number | undefined {
  if (agent.maxContextTokens !== undefined) return agent.maxContextTokens;
  let facts;
  try {
    facts = modelFacts(model, { prices: agent.prices });
  } catch {
    // A price file that cannot be read was reported when the run started; no window is known here.
    return undefined;
  }
  if (!facts?.contextWindow) return undefined;
  const answer = facts.maxOutput ?? Math.min(OUTPUT_MOST, Math.floor(facts.contextWindow * OUTPUT_SHARE));
  return Math.max(1, facts.contextWindow - answer);
}

/**
 * The messages of each model request of one agent, cut to fit its input budget, counted exactly for
 * OpenAI's models and by a calibrated estimate for others. The tokenizer loads only when a request
 * might not fit.
 */
export class ContextWindow {
  private counter: TokenCounter | undefined;
  private loading: Promise<TokenCounter> | undefined;
  /** The input tokens a request may hold; undefined when no source knows the model's window. */
  readonly budget: number | undefined;

  constructor(
    agent: Pick<Agent, 'maxContextTokens' | 'prices'>,
    private readonly model: ModelInfo,
  ) {
    this.budget = inputBudget(agent, model.model);
    // An estimate costs nothing to keep, and calibrates from the first answer on.
    if (this.budget !== undefined && !countsExactly(model)) this.counter = estimatingCounter();
  }

  /** The messages to send: all of them when they fit, else the first ones and the latest turns that do. */
  async fit(messages: readonly Message[]): Promise<readonly Message[]> {
    if (this.budget === undefined || surelyFits(messages, this.budget)) return messages;
    return assembleMessages(messages, this.budget, await this.tokenCounter());
  }

  /** The counter this window counts with: exact, or the calibrated estimate. */
  async tokenCounter(): Promise<TokenCounter> {
    return this.counter ?? (this.counter = await (this.loading ??= tokenCounterFor(this.model)));
  }

  /** What the model reported for a request of `sent`: an estimating counter calibrates itself. */
  observe(sent: readonly Message[], inputTokens: number): void {
    this.counter?.observe(sent, inputTokens);
  }
}
