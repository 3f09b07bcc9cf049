import type { Message } from '../protocol/messages.ts';

/** Tokens a chat request spends on each message besides its content (role and separators), and on priming the reply. */
const PER_MESSAGE = 3;
const PER_REQUEST = 3;
/** Tokens a tool call spends besides its name and arguments. */
const PER_CALL = 8;

/**
 * Counts the tokens of messages as a model reads them. `exact` counters use the model's own
 * tokenizer (OpenAI's models); the others estimate from the text and calibrate themselves from the
 * input tokens the model reports (`observe`).
 */
export interface TokenCounter {
  readonly exact: boolean;
  /** Tokens of one message, overhead included. */
  message(message: Message): number;
  /** Tokens of a request holding these messages. */
  request(messages: readonly Message[]): number;
  /** The input tokens the model reported for a request of these messages: an estimating counter scales itself to match. */
  observe(messages: readonly Message[], reportedInputTokens: number): void;
}

type Encode = (text: string) => number;

/** The text of a message that the model reads, piece by piece. */
function* piecesOf(message: Message): Generator<string> {
  if (message.content) yield message.content;
  if (message.role === 'tool') yield message.name;
  if (message.role === 'assistant') {
    for (const call of message.toolCalls ?? []) {
      yield call.name;
      yield call.arguments;
    }
  }
}

const callsOf = (message: Message) => (message.role === 'assistant' ? (message.toolCalls?.length ?? 0) : 0);

class Counter implements TokenCounter {
  /** Messages of a run are immutable objects shared from turn to turn: each is counted once. */
  private readonly counted = new WeakMap<Message, number>();
  private scale = 1;

  constructor(
    readonly exact: boolean,
    private readonly encode: Encode,
  ) {}

  private raw(message: Message): number {
    let tokens = this.counted.get(message);
    if (tokens === undefined) {
      tokens = PER_MESSAGE + PER_CALL * callsOf(message);
      for (const piece of piecesOf(message)) tokens += this.encode(piece);
      this.counted.set(message, tokens);
    }
    return tokens;
  }

  message(message: Message): number {
    return Math.ceil(this.raw(message) * this.scale);
  }

  request(messages: readonly Message[]): number {
    let tokens = 0;
    for (const message of messages) tokens += this.raw(message);
    return Math.ceil((tokens + PER_REQUEST) * this.scale);
  }

  observe(messages: readonly Message[], reportedInputTokens: number): void {
    if (this.exact || reportedInputTokens <= 0) return;
    let tokens = PER_REQUEST;
    for (const message of messages) tokens += this.raw(message);
    // The reported count includes what the messages do not show (tool definitions, a provider's own
    // framing), so the estimate is scaled to it; a wild ratio (a proxy that reports nothing useful) is held in bounds.
    this.scale = Math.min(MAX_SCALE, Math.max(1 / MAX_SCALE, reportedInputTokens / tokens));
  }
}

/** About four characters a token, as in English text; what a model's text differs by, calibration makes up. */
const CHARS_PER_TOKEN = 4;
const MAX_SCALE = CHARS_PER_TOKEN;
const estimate: Encode = (text) => Math.ceil(text.length / CHARS_PER_TOKEN);

/** An estimating counter, calibrated by what the model reports. */
export const estimatingCounter = (): TokenCounter => new Counter(false, estimate);

/**
 * The counter for a model: exact, with OpenAI's tokenizer (`gpt-tokenizer`, loaded on first use), for
 * OpenAI's models; estimating and calibrated for any other.
 */
export async function tokenCounterFor(model: { provider: string; model: string }): Promise<TokenCounter> {
  if (!countsExactly(model)) return estimatingCounter();
  const encoding = await encodingFor(model.model);
  return new Counter(true, (text) => encoding.countTokens(text));
}

/**
 * Whether `tokenCounterFor` counts this model's tokens exactly: one of OpenAI's models by name, on
 * OpenAI's API or a gateway that serves it (`openai/gpt-4o`); the name decides the tokenizer.
 */
export const countsExactly = (model: { model: string }) => isOpenAIModel(model.model);

const isOpenAIModel = (model: string) => /^(gpt-|chatgpt-|o\d|codex-)/.test(model.replace(/^openai\//, ''));

async function encodingFor(model: string): Promise<{ countTokens(text: string): number }> {
  const { modelToEncodingMap } = await import('gpt-tokenizer/mapping');
  const name = (modelToEncodingMap as Record<string, string | undefined>)[model.replace(/^openai\//, '')];
  // Models the tokenizer does not list yet are the newest ones, which use o200k_base.
  return name === 'cl100k_base' ? import('gpt-tokenizer/encoding/cl100k_base') : import('gpt-tokenizer/encoding/o200k_base');
}

/**
 * Whether messages certainly fit a budget without counting them: no token is shorter than a byte of
 * UTF-8, and no calibration scales an estimate past one token a character, so bytes plus the largest
 * overhead bound the count from above. Spares loading a tokenizer for a short run.
 */
export function surelyFits(messages: readonly Message[], budget: number): boolean {
  let bound = MAX_SCALE * PER_REQUEST;
  for (const message of messages) {
    bound += MAX_SCALE * (PER_MESSAGE + PER_CALL * callsOf(message));
    for (const piece of piecesOf(message)) bound += Buffer.byteLength(piece, 'utf8');
    if (bound > budget) return false;
  }
  return true;
}
