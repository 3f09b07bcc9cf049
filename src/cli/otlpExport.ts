// Loaded only when OTEL_EXPORTER_OTLP_ENDPOINT is set: OpenTelemetry's SDK and exporters are optional
// peer dependencies, imported here and nowhere else.
import { metrics, trace } from '@opentelemetry/api';
import { UserError } from '../errors.ts';

/** The packages `statecraft` exports traces and metrics with, as the npm install that adds them names them. */
export const OTLP_PACKAGES = [
  '@opentelemetry/sdk-trace-base@2',
  '@opentelemetry/sdk-metrics@2',
  '@opentelemetry/resources@2',
  '@opentelemetry/exporter-trace-otlp-http@0.223',
  '@opentelemetry/exporter-metrics-otlp-http@0.223',
];

const missing = (error: unknown) => ['ERR_MODULE_NOT_FOUND', 'MODULE_NOT_FOUND'].includes(String((error as NodeJS.ErrnoException)?.code));

async function load() {
  try {
    return await Promise.all([
      import('@opentelemetry/sdk-trace-base'),
      import('@opentelemetry/sdk-metrics'),
      import('@opentelemetry/resources'),
      import('@opentelemetry/exporter-trace-otlp-http'),
      import('@opentelemetry/exporter-metrics-otlp-http'),
    ]);
  } catch (error) {
    if (!missing(error)) throw error;
    throw new UserError(
      `OTEL_EXPORTER_OTLP_ENDPOINT is set (${process.env.OTEL_EXPORTER_OTLP_ENDPOINT}), so statecraft sends traces and metrics there over OTLP/HTTP, ` +
        `which needs OpenTelemetry's SDK: ${(error as Error).message.split('\n')[0]}. Install it with: npm install ${OTLP_PACKAGES.join(' ')} ` +
        '(or unset OTEL_EXPORTER_OTLP_ENDPOINT).',
      { cause: error },
    );
  }
}

/**
 * Registers OpenTelemetry providers that send spans and metrics over OTLP/HTTP (JSON) to the endpoint
 * the standard `OTEL_EXPORTER_OTLP_*` variables name, and returns what flushes and stops them. The
 * service is `OTEL_SERVICE_NAME`, else `statecraft`.
 */
export async function startOtlpExport(): Promise<() => Promise<void>> {
  const [{ BasicTracerProvider, BatchSpanProcessor }, { MeterProvider, PeriodicExportingMetricReader }, { resourceFromAttributes }, { OTLPTraceExporter }, { OTLPMetricExporter }] = await load();
  const resource = resourceFromAttributes({ 'service.name': process.env.OTEL_SERVICE_NAME || 'statecraft' });
  const tracerProvider = new BasicTracerProvider({ resource, spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())] });
  const meterProvider = new MeterProvider({ resource, readers: [new PeriodicExportingMetricReader({ exporter: new OTLPMetricExporter() })] });
  trace.setGlobalTracerProvider(tracerProvider);
  metrics.setGlobalMeterProvider(meterProvider);
  return async () => {
    // What is still buffered is sent before the CLI exits; a receiver that cannot be reached is the
    // exporter's to report, and never changes how the command ends.
    await Promise.allSettled([tracerProvider.shutdown(), meterProvider.shutdown()]);
    trace.disable();
    metrics.disable();
  };
}
