import type { PieceIndex, Span } from './PieceIndex.ts';

/**
 * Longest text a stream holds back while a redacted span runs on to its end. Past it the span is
 * released early, still as a label (so a long one may show as two), and nothing of it as plain text.
 */
const MAX_HELD = 256;

/**
 * Redacts text that arrives in chunks as the whole text would be redacted: each `write` returns what
 * is settled and holds back the end that could begin a secret's piece (at most a few characters of
 * ordinary text) until the next chunk shows whether it does.
 */
export class RedactingStream {
  readonly #index: PieceIndex;
  #held = '';
  /** Leading characters of `#held` already released inside a label. */
  #released = 0;

  constructor(index: PieceIndex) {
    this.#index = index;
  }

  /** Takes the next chunk; returns the redacted text that can be released now (often all of it). */
  write(text: string): string {
    if (this.#index.empty) return text;
    const buffer = this.#held + text;
    const spans = this.#index.spans(buffer);
    const open = buffer.length - this.#index.unfinishedTail(buffer);
    const last = spans[spans.length - 1];
    // A span that reaches the held end may go on in the next chunk: it is held whole, so it ends as one label.
    const cut = last !== undefined && last.end >= open ? last.start : open;
    const forced = last !== undefined && buffer.length - cut > MAX_HELD;
    const releaseTo = forced ? last.end : cut;
    const keepFrom = forced ? open : cut;
    const out = render(buffer, spans, this.#released, releaseTo);
    this.#held = buffer.slice(keepFrom);
    this.#released = Math.max(0, Math.max(this.#released, releaseTo) - keepFrom);
    return out;
  }

  /** The stream ended: returns the rest, redacted as the end of the whole text. */
  end(): string {
    const held = this.#held;
    const out = render(held, this.#index.spans(held), this.#released, held.length);
    this.#reset();
    return out;
  }

  /**
   * The stream broke off (an error, a cancel, a retry): returns what is settled and drops the held end
   * that could have begun a secret, which no later chunk will complete or clear.
   */
  abandon(): string {
    const held = this.#held;
    const spans = this.#index.spans(held);
    const last = spans[spans.length - 1];
    const open = held.length - this.#index.unfinishedTail(held);
    const out = render(held, spans, this.#released, last !== undefined && last.end > open ? last.end : open);
    this.#reset();
    return out;
  }

  #reset(): void {
    this.#held = '';
    this.#released = 0;
  }
}

/** `text` between `from` and `to` with each span replaced by its label. */
export function render(text: string, spans: readonly Span[], from: number, to: number): string {
  if (spans.length === 0) return from === 0 && to === text.length ? text : text.slice(from, Math.max(from, to));
  let out = '';
  let at = from;
  for (const span of spans) {
    if (span.end <= at) continue;
    if (span.start >= to) break;
    if (span.start > at) out += text.slice(at, span.start);
    out += span.label;
    at = span.end;
  }
  return at < to ? out + text.slice(at, to) : out;
}
