import {
  SpanKind,
  SpanStatusCode,
  context as otelContext,
  metrics as otelMetrics,
  trace,
  type Attributes,
  type Context,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import type { Operation } from '../log/format/record.ts';
import type { AssistantMessage } from '../protocol/messages.ts';
import type { RunEvent } from '../runtime/runEvents.ts';
import * as A from './genAi.ts';
import { partsOf, providerName, serverOf } from './genAi.ts';
import { optedIn, type RunIdentity, type TelemetryOptions } from './telemetryOptions.ts';
import { runMetrics, type RunMetrics } from './runMetrics.ts';
import { contextOf, traceparentOf } from './traceparent.ts';
import { isNoopMeterProvider, isNoopTracerProvider } from './noopProviders.ts';

const stateText = (state: unknown) => (typeof state === 'string' ? state : JSON.stringify(state));

/** One open span and the context its children start in. */
interface Open {
  span: Span;
  context: Context;
}

/**
 * Turns one run's events, in this process, into spans following OpenTelemetry's GenAI conventions
 * (`invoke_agent`, `chat`, `execute_tool`, approval waits) and metrics. It sees only what this
 * process does: a resumed run's recorded steps are never reported again.
 */
export class RunTelemetry {
  /** The run's span as a W3C traceparent, for the run's header: a resume in another process continues this trace. */
  readonly traceparent: string | undefined;
  readonly patches: boolean;
  /** Message content, tool arguments and results go on spans (opted in): events must carry them. */
  readonly content: boolean;
  private readonly tracer: Tracer;
  private readonly metrics: RunMetrics | undefined;
  private readonly root: Open;
  private readonly runId: string;
  private readonly agentName: string;
  private readonly provider: string;
  private readonly server: Attributes;
  private readonly agents = new Map<string, Open & { name: string }>();
  private readonly tools = new Map<string, Span>();
  private readonly approvals = new Map<string, { span: Span; since: number }>();
  private readonly answers = new Map<string, string>();
  private notedPatch: { seq: number; patch: readonly Operation[] } | undefined;
  private ended = false;

  /**
   * The telemetry of a run about to start or resume, or undefined when neither traces nor metrics
   * would go anywhere (no SDK registered, or `telemetry: false`).
   */
  static open(run: RunIdentity, options: TelemetryOptions | false | undefined): RunTelemetry | undefined {
    if (options === false) return undefined;
    const tracerProvider = options?.tracerProvider ?? trace.getTracerProvider();
    const meterProvider = options?.meterProvider ?? otelMetrics.getMeterProvider();
    const tracing = !isNoopTracerProvider(tracerProvider);
    const metering = !isNoopMeterProvider(meterProvider);
    if (!tracing && !metering) return undefined;
    return new RunTelemetry(run, options ?? {}, tracerProvider.getTracer(A.INSTRUMENTATION), metering ? runMetrics(meterProvider.getMeter(A.INSTRUMENTATION)) : undefined);
  }

  private constructor(run: RunIdentity, options: TelemetryOptions, tracer: Tracer, metrics: RunMetrics | undefined) {
    this.tracer = tracer;
    this.metrics = metrics;
    ({ content: this.content, patches: this.patches } = optedIn(options));
    this.runId = run.runId;
    this.agentName = run.agent.name;
    this.provider = providerName(run.model.provider);
    this.server = serverOf(run.model);
    const resumed = run.resumedFrom !== undefined;
    const parent = (resumed ? contextOf(run.resumedFrom?.traceparent) : undefined) ?? otelContext.active();
    const span = tracer.startSpan(
      `invoke_agent ${run.agent.name}`,
      {
        kind: SpanKind.INTERNAL,
        attributes: {
          [A.OPERATION]: 'invoke_agent',
          [A.PROVIDER]: this.provider,
          [A.AGENT_NAME]: run.agent.name,
          [A.AGENT_ID]: run.agent.name,
          [A.AGENT_VERSION]: run.agent.version,
          [A.CONVERSATION_ID]: run.runId,
          [A.REQUEST_MODEL]: run.model.model,
          [A.RUN_ID]: run.runId,
          [A.RUN_RESUMED]: resumed,
        },
      },
      parent,
    );
    this.root = { span, context: trace.setSpan(parent, span) };
    // A resumed run keeps the trace its start recorded; a new one records its own span.
    this.traceparent = resumed ? run.resumedFrom?.traceparent : traceparentOf(span.spanContext());
  }

  /** The patch of the record a `state` event is about to name, when patches are sent (`patches`). */
  notePatch(seq: number, patch: readonly Operation[]): void {
    this.notedPatch = { seq, patch };
  }

  /** Reports one run event, at once: spans are ended and measurements recorded, and the SDK sends them later. */
  readonly listener = (event: RunEvent): void => {
    if (this.ended) return;
    switch (event.type) {
      case 'state':
        return this.stateChanged(event);
      case 'delta': {
        if (!this.content) return;
        const key = this.key(event.actor, String(event.step));
        this.answers.set(key, (this.answers.get(key) ?? '') + event.text);
        return;
      }
      case 'model.retry':
        // The text streamed so far is discarded: the next attempt streams its answer anew.
        this.answers.delete(this.key(event.actor, String(event.step)));
        this.parentOf(event.actor).span.addEvent('statecraft.model.retry', { 'statecraft.attempt': event.attempt, 'statecraft.delay_ms': event.delayMs, 'statecraft.reason': event.reason });
        return;
      case 'model.answer':
        return this.chat(event);
      case 'model.failed':
        return this.chatFailed(event);
      case 'tool.start':
        return this.toolStarted(event);
      case 'tool.end':
        return this.toolEnded(event);
      case 'tool.refused':
        this.parentOf(event.actor).span.addEvent('statecraft.tool.refused', { [A.TOOL_NAME]: event.tool, [A.TOOL_CALL_ID]: event.callId, 'statecraft.refusal': event.status });
        return;
      case 'approval.requested':
        return this.approvalRequested(event);
      case 'tool.decided':
        return this.decided(event);
      case 'agent.start':
        return this.agentStarted(event);
      case 'agent.end':
        return this.agentEnded(event);
      case 'end':
        return this.finish(event.result);
      default:
        return;
    }
  };

  /** The run stopped on an error of the runtime's own (a failed write, say) rather than with an `end` event. */
  abort(error: unknown): void {
    if (this.ended) return;
    const message = error instanceof Error ? error.message : String(error);
    this.closeAll('aborted');
    this.root.span.setStatus({ code: SpanStatusCode.ERROR, message });
    this.root.span.setAttribute(A.ERROR_TYPE, error instanceof Error ? error.name : 'Error');
    this.root.span.end();
    this.metrics?.runs.add(1, { [A.AGENT_NAME]: this.agentName, [A.RUN_STATUS]: 'failed' });
    this.ended = true;
  }

  private key(actor: string | undefined, id: string) {
    return `${actor ?? ''}\u0000${id}`;
  }

  private parentOf(actor: string | undefined): Open {
    if (actor === undefined) return this.root;
    return this.agents.get(actor) ?? this.parentOf(actor.includes('/') ? actor.slice(0, actor.lastIndexOf('/')) : undefined);
  }

  private nameOf(actor: string | undefined): string {
    return actor === undefined ? this.agentName : (this.agents.get(actor)?.name ?? actor);
  }

  private stateChanged(event: Extract<RunEvent, { type: 'state' }>) {
    const attributes: Attributes = { [A.STATE]: stateText(event.state), [A.STEP]: event.step };
    if (event.record) {
      attributes[A.RECORD_SEQ] = event.record.seq;
      attributes[A.PATCH_OPERATIONS] = event.record.patchOps;
      attributes[A.PATCH_BYTES] = event.record.patchBytes;
      if (this.patches && this.notedPatch?.seq === event.record.seq) attributes[A.PATCH] = JSON.stringify(this.notedPatch.patch);
    }
    this.notedPatch = undefined;
    this.root.span.addEvent(A.STATE_CHANGED, attributes);
  }

  private chat(event: Extract<RunEvent, { type: 'model.answer' }>) {
    const now = Date.now();
    const parent = this.parentOf(event.actor);
    const attributes: Attributes = {
      [A.OPERATION]: 'chat',
      [A.PROVIDER]: providerName(event.provider),
      [A.REQUEST_MODEL]: event.requestModel,
      [A.RESPONSE_MODEL]: event.model,
      ...this.server,
      [A.INPUT_TOKENS]: event.usage.inputTokens,
      [A.OUTPUT_TOKENS]: event.usage.outputTokens,
      [A.FINISH_REASONS]: [event.finishReason],
      [A.CONVERSATION_ID]: this.runId,
      [A.STEP]: event.step, ...(event.waitedMs ? { [A.RATE_LIMIT_WAIT_MS]: event.waitedMs } : {}),
      ...(event.usage.cachedInputTokens ? { [A.CACHE_READ_TOKENS]: event.usage.cachedInputTokens } : {}),
      ...(event.costUsd === null ? {} : { [A.COST_USD]: event.costUsd }),
      ...(event.actor === undefined ? {} : { [A.ACTOR]: event.actor, [A.AGENT_NAME]: this.nameOf(event.actor) }),
    };
    const answerKey = this.key(event.actor, String(event.step));
    if (this.content) {
      const streamed = this.answers.get(answerKey) ?? '';
      const output: AssistantMessage = event.output ?? { role: 'assistant', content: streamed };
      attributes[A.OUTPUT_MESSAGES] = JSON.stringify([{ ...partsOf(output), finish_reason: event.finishReason }]);
      if (event.input) attributes[A.INPUT_MESSAGES] = JSON.stringify(event.input.map(partsOf));
    }
    this.answers.delete(answerKey);
    const span = this.tracer.startSpan(`chat ${event.requestModel}`, { kind: SpanKind.CLIENT, attributes, startTime: now - event.durationMs }, parent.context);
    span.end(now);
    if (!this.metrics) return;
    const measured = { [A.OPERATION]: 'chat', [A.PROVIDER]: providerName(event.provider), [A.REQUEST_MODEL]: event.requestModel, [A.RESPONSE_MODEL]: event.model };
    this.metrics.modelDuration.record(event.durationMs / 1000, measured);
    this.metrics.tokens.record(event.usage.inputTokens, { ...measured, [A.TOKEN_TYPE]: 'input' });
    this.metrics.tokens.record(event.usage.outputTokens, { ...measured, [A.TOKEN_TYPE]: 'output' });
    const agent = { [A.AGENT_NAME]: this.nameOf(event.actor) };
    this.metrics.steps.add(1, agent);
    if (event.costUsd !== null) this.metrics.cost.add(event.costUsd, { ...agent, [A.RESPONSE_MODEL]: event.model });
  }

  private chatFailed(event: Extract<RunEvent, { type: 'model.failed' }>) {
    const now = Date.now();
    const attributes: Attributes = {
      [A.OPERATION]: 'chat',
      [A.PROVIDER]: providerName(event.provider),
      [A.REQUEST_MODEL]: event.requestModel,
      ...this.server,
      [A.CONVERSATION_ID]: this.runId,
      [A.STEP]: event.step,
      [A.ERROR_TYPE]: event.errorType,
      ...(event.actor === undefined ? {} : { [A.ACTOR]: event.actor, [A.AGENT_NAME]: this.nameOf(event.actor) }),
    };
    this.answers.delete(this.key(event.actor, String(event.step)));
    const span = this.tracer.startSpan(`chat ${event.requestModel}`, { kind: SpanKind.CLIENT, attributes, startTime: now - event.durationMs }, this.parentOf(event.actor).context);
    span.setStatus({ code: SpanStatusCode.ERROR, message: event.error });
    span.end(now);
    this.metrics?.modelDuration.record(event.durationMs / 1000, {
      [A.OPERATION]: 'chat',
      [A.PROVIDER]: providerName(event.provider),
      [A.REQUEST_MODEL]: event.requestModel,
      [A.ERROR_TYPE]: event.errorType,
    });
  }

  private toolStarted(event: Extract<RunEvent, { type: 'tool.start' }>) {
    const span = this.tracer.startSpan(
      `execute_tool ${event.tool}`,
      {
        kind: SpanKind.INTERNAL,
        attributes: {
          [A.OPERATION]: 'execute_tool',
          [A.TOOL_NAME]: event.tool,
          [A.TOOL_CALL_ID]: event.callId,
          [A.TOOL_TYPE]: 'function',
          ...(event.actor === undefined ? {} : { [A.ACTOR]: event.actor }),
          ...(this.content && event.arguments !== undefined ? { [A.TOOL_ARGUMENTS]: event.arguments } : {}),
        },
      },
      this.parentOf(event.actor).context,
    );
    this.tools.get(this.key(event.actor, event.callId))?.end();
    this.tools.set(this.key(event.actor, event.callId), span);
  }

  private toolEnded(event: Extract<RunEvent, { type: 'tool.end' }>) {
    const key = this.key(event.actor, event.callId);
    const span = this.tools.get(key);
    this.tools.delete(key);
    if (span) {
      if (this.content && event.result !== undefined) span.setAttribute(A.TOOL_RESULT, event.result);
      if (event.isError) {
        span.setStatus({ code: SpanStatusCode.ERROR, ...(event.error ? { message: event.error } : {}) });
        span.setAttribute(A.ERROR_TYPE, 'tool_error');
      }
      span.end();
    }
    this.metrics?.toolDuration.record(event.durationMs / 1000, { [A.TOOL_NAME]: event.tool, ...(event.isError ? { [A.ERROR_TYPE]: 'tool_error' } : {}) });
  }

  private approvalRequested(event: Extract<RunEvent, { type: 'approval.requested' }>) {
    for (const call of event.calls) {
      const key = this.key(call.actor, call.id);
      if (this.approvals.has(key)) continue;
      const attributes: Attributes = {
        [A.TOOL_NAME]: call.name,
        [A.TOOL_CALL_ID]: call.id,
        ...(call.actor === undefined ? {} : { [A.ACTOR]: call.actor }),
        ...(this.content ? { [A.TOOL_ARGUMENTS]: call.arguments } : {}),
      };
      const span = this.tracer.startSpan(`await_approval ${call.name}`, { kind: SpanKind.INTERNAL, attributes }, this.parentOf(call.actor).context);
      this.approvals.set(key, { span, since: event.since ?? Date.now() });
    }
  }

  private decided(event: Extract<RunEvent, { type: 'tool.decided' }>) {
    if (event.decision === 'allowed') return;
    const key = this.key(event.actor, event.callId);
    const waiting = this.approvals.get(key);
    if (!waiting) return;
    this.approvals.delete(key);
    waiting.span.setAttributes({ [A.APPROVAL_DECISION]: event.decision, [A.APPROVAL_BY]: event.by });
    waiting.span.end();
    this.metrics?.approvalWait.record(Math.max(0, Date.now() - waiting.since) / 1000, { [A.TOOL_NAME]: event.tool, [A.APPROVAL_DECISION]: event.decision });
  }

  private agentStarted(event: Extract<RunEvent, { type: 'agent.start' }>) {
    const parent = this.parentOf(event.actor.includes('/') ? event.actor.slice(0, event.actor.lastIndexOf('/')) : undefined);
    const span = this.tracer.startSpan(
      `invoke_agent ${event.agent}`,
      {
        kind: SpanKind.INTERNAL,
        attributes: {
          [A.OPERATION]: 'invoke_agent',
          [A.PROVIDER]: this.provider,
          [A.AGENT_NAME]: event.agent,
          [A.AGENT_ID]: event.agent,
          [A.ACTOR]: event.actor,
          [A.CONVERSATION_ID]: this.runId,
        },
      },
      parent.context,
    );
    this.agents.get(event.actor)?.span.end();
    this.agents.set(event.actor, { span, context: trace.setSpan(parent.context, span), name: event.agent });
  }

  private agentEnded(event: Extract<RunEvent, { type: 'agent.end' }>) {
    const open = this.agents.get(event.actor);
    if (!open) return;
    this.agents.delete(event.actor);
    open.span.setAttributes({
      [A.RUN_STATUS]: event.status,
      [A.RUN_STEPS]: event.steps,
      [A.INPUT_TOKENS]: event.usage.inputTokens,
      [A.OUTPUT_TOKENS]: event.usage.outputTokens,
      [A.COST_USD]: event.costUsd,
    });
    if (event.status === 'failed') open.span.setStatus({ code: SpanStatusCode.ERROR });
    open.span.end();
  }

  private finish(result: Extract<RunEvent, { type: 'end' }>['result']) {
    // Calls still waiting when a run is let go are decided later, maybe in another process, which reports that wait.
    this.closeAll(result.status === 'waiting' ? 'pending' : 'not decided');
    const span = this.root.span;
    span.setAttributes({
      [A.RUN_STATUS]: result.status,
      [A.RUN_REASON]: result.reason,
      [A.RUN_STEPS]: result.steps,
      [A.INPUT_TOKENS]: result.usage.inputTokens,
      [A.OUTPUT_TOKENS]: result.usage.outputTokens,
      [A.COST_USD]: result.costUsd,
    });
    if (result.status === 'failed') {
      span.setStatus({ code: SpanStatusCode.ERROR, message: result.detail });
      span.setAttribute(A.ERROR_TYPE, result.error?.name ?? result.reason);
    }
    span.end();
    this.metrics?.runs.add(1, { [A.AGENT_NAME]: this.agentName, [A.RUN_STATUS]: result.status });
    this.ended = true;
  }

  /** Ends every span still open: approvals (as `decision`), tools, then invoked agents, innermost first. */
  private closeAll(decision: string) {
    for (const { span } of this.approvals.values()) {
      span.setAttribute(A.APPROVAL_DECISION, decision);
      span.end();
    }
    this.approvals.clear();
    for (const span of this.tools.values()) span.end();
    this.tools.clear();
    for (const actor of [...this.agents.keys()].sort((a, b) => b.length - a.length)) this.agents.get(actor)!.span.end();
    this.agents.clear();
  }
}
