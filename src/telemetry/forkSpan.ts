import { SpanKind, trace, type Link } from '@opentelemetry/api';
import * as A from './genAi.ts';
import { isNoopTracerProvider } from './noopProviders.ts';
import type { TelemetryOptions } from './telemetryOptions.ts';
import { contextOf, traceparentOf } from './traceparent.ts';

export interface ForkIdentity {
  forkId: string;
  agent: { name: string; version: string };
  parent: { runId: string; seq: number; traceparent: string | undefined };
}

/**
 * Reports a fork as the first span of a trace of its own, linked to the span of its parent run that
 * the parent's header names, and returns that span's `traceparent` for the fork's header: every
 * process that resumes the fork then continues this one trace. Undefined with no SDK registered.
 */
export function forkSpan(fork: ForkIdentity, options: TelemetryOptions | false | undefined): string | undefined {
  if (options === false) return undefined;
  const provider = options?.tracerProvider ?? trace.getTracerProvider();
  if (isNoopTracerProvider(provider)) return undefined;
  const parentContext = contextOf(fork.parent.traceparent);
  const parentSpan = parentContext ? trace.getSpanContext(parentContext) : undefined;
  const links: Link[] = parentSpan ? [{ context: parentSpan, attributes: { [A.RUN_ID]: fork.parent.runId } }] : [];
  const span = provider.getTracer(A.INSTRUMENTATION).startSpan(`fork_run ${fork.agent.name}`, {
    kind: SpanKind.INTERNAL,
    root: true,
    links,
    attributes: {
      [A.AGENT_NAME]: fork.agent.name,
      [A.AGENT_VERSION]: fork.agent.version,
      [A.CONVERSATION_ID]: fork.forkId,
      [A.RUN_ID]: fork.forkId,
      [A.FORK_PARENT_RUN_ID]: fork.parent.runId,
      [A.FORK_PARENT_SEQ]: fork.parent.seq,
    },
  });
  span.end();
  return traceparentOf(span.spanContext());
}
