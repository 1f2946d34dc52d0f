import assert from 'node:assert/strict';
import { propagation, trace } from '@opentelemetry/api';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { NO_SPAN, tracingActive } from '../../../lib/telemetry/tracing-active.js';

describe('tracingActive (is any span or trace context going anywhere?)', () => {
  afterEach(() => {
    trace.disable();
    propagation.disable();
  });

  it('is false with neither a tracer provider nor a propagator registered', () => {
    assert.equal(tracingActive('authmesh-gateway'), false);
    assert.equal(NO_SPAN.isRecording(), false);
  });

  it('is true once a tracer provider is registered, asked after it was', () => {
    assert.equal(trace.setGlobalTracerProvider(new BasicTracerProvider()), true);
    assert.equal(tracingActive('authmesh-gateway'), true);
  });

  it("is true with only a propagator registered, so a caller's trace context still goes on to the domains", () => {
    assert.equal(propagation.setGlobalPropagator({ inject: () => undefined, extract: (ctx) => ctx, fields: () => ['traceparent', 'tracestate'] }), true);
    assert.equal(tracingActive('authmesh-gateway'), true);
  });
});
