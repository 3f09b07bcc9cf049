import type { RunEvent } from '../runtime/runEvents.ts';
import { thousands } from './thousands.ts';
import { tokensText } from './tokensText.ts';

const format = thousands;

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** Time taken, as a person reads it: 4.2 s, 3 min 07 s. */
const elapsed = (ms: number) => (ms < 60_000 ? seconds(ms) : `${Math.floor(ms / 60_000)} min ${String(Math.floor((ms % 60_000) / 1000)).padStart(2, '0')} s`);

/** Which invoked agent an event comes from, when not the run's own. */
const inAgent = (event: RunEvent) => (event.actor === undefined ? '' : ` in ${event.actor}`);

/**
 * Human-readable progress for a terminal: one line per state change, streamed text as it arrives, and
 * a summary at the end with the time since the progress was created (`now` gives the time in ms).
 */
export function createProgress(write: (text: string) => void, color: boolean, now: () => number = () => performance.now()) {
  const started = now();
  const dim = (text: string) => (color ? `\x1b[2m${text}\x1b[22m` : text);
  const bold = (text: string) => (color ? `\x1b[1m${text}\x1b[22m` : text);
  // Models that answered without a price: their tokens cost an unknown amount, so a sum is no total.
  const unpriced = new Set<string>();
  const cost = (usd: number) => (unpriced.size === 0 ? `$${usd.toFixed(4)}` : usd > 0 ? `$${usd.toFixed(4)} + cost unknown` : 'cost unknown');
  // State events carry the run's own context, which holds nothing invoked agents spend until (and unless)
  // the machine folds in their output. Every agent's answers are counted here as they come, and the
  // larger of the two is shown: nothing counts twice, and a resumed run's context keeps its earlier turns.
  const seen = { steps: 0, tokens: 0, costUsd: 0 };
  let lastLine = '';
  // The model turn whose text is being streamed (agent and step): another turn's text starts a new line.
  let streaming: string | null = null;
  let ended = false;
  const endStream = () => {
    if (streaming !== null) write('\n');
    streaming = null;
  };
  return (event: RunEvent) => {
    if (ended) return;
    switch (event.type) {
      case 'state': {
        const state = typeof event.state === 'string' ? event.state : JSON.stringify(event.state);
        const step = Math.max(event.step, seen.steps);
        // Within one state and step (tools starting and finishing, decisions) nothing new is worth a line.
        if (`${step} ${state}` === lastLine) return;
        lastLine = `${step} ${state}`;
        endStream();
        const tokens = Math.max(event.usage.inputTokens + event.usage.outputTokens, seen.tokens);
        write(dim(`step ${step} · ${state} · ${format(tokens)} tokens · ${cost(Math.max(event.costUsd, seen.costUsd))}\n`));
        return;
      }
      case 'delta': {
        const turn = `${event.actor ?? ''} ${event.step}`;
        if (streaming !== turn) {
          endStream();
          write(dim(`  model${inAgent(event)}: `));
        }
        streaming = turn;
        write(event.text);
        return;
      }
      case 'model.answer':
        if (event.costUsd === null) unpriced.add(event.model);
        // A summary written to compact the context is not a step of the agent, but its tokens and cost count.
        if (event.purpose !== 'compaction') seen.steps += 1;
        seen.tokens += event.usage.inputTokens + event.usage.outputTokens;
        seen.costUsd += event.costUsd ?? 0;
        return;
      case 'model.retry': {
        const discarded = streaming !== null ? '; the text so far is discarded' : '';
        endStream();
        write(`  ↻ model call${inAgent(event)} retried (attempt ${event.attempt}) in ${seconds(event.delayMs)}: ${event.reason}${discarded}\n`);
        return;
      }
      case 'tool.refused':
        endStream();
        write(`  ✗ ${event.tool || '(no name)'} ${dim(event.callId)}${inAgent(event)}: ${event.reason}\n`);
        return;
      case 'tool.start':
        endStream();
        write(`  → ${event.tool} ${dim(event.callId)}${inAgent(event)}\n`);
        return;
      case 'tool.end':
        endStream();
        write(`  ${event.isError ? '✗' : '✓'} ${event.tool} ${dim(event.callId)}${inAgent(event)} ${dim(`${Math.round(event.durationMs)} ms`)}${event.error ? `: ${event.error}` : ''}\n`);
        return;
      case 'tool.decided': {
        endStream();
        const how = event.decision === 'allowed' ? `allowed by policy (${event.by})` : `${event.decision} by ${event.by}${event.reason ? `: ${event.reason}` : ''}`;
        write(`  ${event.decision === 'rejected' ? '✗' : '✓'} ${event.tool} ${dim(event.callId)}${inAgent(event)} ${how}\n`);
        return;
      }
      case 'fitness':
        endStream();
        for (const result of event.results) write(`  ${result.ok ? '♥' : '✗'} fitness ${result.name}: ${result.detail}${result.ok ? '' : ` (${result.onBreach})`}\n`);
        return;
      case 'approval.requested':
        endStream();
        for (const call of event.calls) write(`  ? ${call.name}(${call.arguments}) ${dim(call.id)}${call.actor === undefined ? '' : ` in ${call.actor}`} waits for approval\n`);
        return;
      case 'end': {
        endStream();
        ended = true;
        const { result } = event;
        write(`${bold(result.status)} · ${result.reason} · ${result.steps} steps · ${tokensText(result.usage)} · ${cost(result.costUsd)} · ${elapsed(now() - started)}\n`);
        if (unpriced.size > 0) write(dim(`  no price known for model ${[...unpriced].join(', ')}: give the agent prices, or a price file (STATECRAFT_PRICES), to count its cost\n`));
        if (result.status !== 'done') write(`  ${result.detail}\n`);
        // The detail quotes the error when it is the runtime's own (a model or tool failure): said once.
        if (result.error && !result.detail.includes(result.error.message)) write(`  ${result.error.name}: ${result.error.message}\n`);
        if (result.output) write(`\n${result.output}\n`);
        return;
      }
      default:
        return;
    }
  };
}
