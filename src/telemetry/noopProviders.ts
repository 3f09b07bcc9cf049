import { ProxyTracerProvider, createNoopMeter, type MeterProvider, type TracerProvider } from '@opentelemetry/api';

/** The API's own no-op meter, which every meter provider of its no-op kind hands out. */
const NOOP_METER = createNoopMeter();

/** Whether spans started on `provider` go nowhere: the API's global provider with no SDK registered behind it. */
export function isNoopTracerProvider(provider: TracerProvider): boolean {
  return provider instanceof ProxyTracerProvider && provider.getDelegate() === new ProxyTracerProvider().getDelegate();
}

/** Whether measurements recorded with `provider` go nowhere (no SDK's meter provider registered). */
export function isNoopMeterProvider(provider: MeterProvider): boolean {
  return provider.getMeter('statecraft') === NOOP_METER;
}
