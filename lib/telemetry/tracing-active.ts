/** Whether tracing is on at all, so hot paths can skip building spans and contexts that go nowhere. */
import { INVALID_SPAN_CONTEXT, propagation, ProxyTracerProvider, trace, type Span } from '@opentelemetry/api';

/**
 * False when neither a tracer provider nor a propagator is registered (telemetry off): a span
 * would be a no-op and a caller's trace context would go nowhere. Cheap enough to ask per call,
 * which it should be, since an SDK may be registered after a server starts.
 */
export function tracingActive(tracerName: string): boolean {
  const provider = trace.getTracerProvider();
  if (!(provider instanceof ProxyTracerProvider) || provider.getDelegateTracer(tracerName) !== undefined) return true;
  return propagation.fields().length > 0;
}

/** The span of a call made while tracing is off: records nothing, one for every call. */
export const NO_SPAN: Span = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);
