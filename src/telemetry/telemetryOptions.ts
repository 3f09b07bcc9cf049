import type { MeterProvider, TracerProvider } from '@opentelemetry/api';
import type { ModelInfo } from '../protocol/model.ts';

/**
 * How a run reports to OpenTelemetry. By default spans and metrics go to the providers registered
 * with `@opentelemetry/api` (your SDK setup); with none registered, a run reports nothing and pays
 * next to nothing. `telemetry: false` in the run options turns it off.
 */
export interface TelemetryOptions {
  /**
   * Also send content: the model's answer text on each `chat` span (`gen_ai.output.messages`) and the
   * arguments of each call that waits for approval, with the run's secrets redacted as in the log.
   * Default: the environment variable `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true`.
   */
  content?: boolean;
  /**
   * Also send each transition's JSON patch (redacted as in the log) on its
   * `gen_ai.execution.state.changed` event. Default: `STATECRAFT_OTEL_CAPTURE_PATCHES=true`.
   */
  patches?: boolean;
  /** Where spans go instead of the global tracer provider. */
  tracerProvider?: TracerProvider;
  /** Where metrics go instead of the global meter provider. */
  meterProvider?: MeterProvider;
}

/** What a run's telemetry needs to know about the run when it opens. */
export interface RunIdentity {
  runId: string;
  agent: { name: string; version: string };
  model: ModelInfo;
  /** A resumed run: its spans continue the trace this W3C `traceparent` (from the run's header) names. */
  resumedFrom?: { traceparent: string | undefined };
}

const flag = (name: string) => /^(1|true|yes)$/i.test(process.env[name] ?? '');

/** Whether content and patches are sent: as the options say, else as the environment does. */
export function optedIn(options: TelemetryOptions): { content: boolean; patches: boolean } {
  return {
    content: options.content ?? flag('OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT'),
    patches: options.patches ?? flag('STATECRAFT_OTEL_CAPTURE_PATCHES'),
  };
}
