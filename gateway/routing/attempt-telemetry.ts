/** Spans and metrics of every attempt the failover loop makes on a fault domain. */
import { context, metrics, SpanStatusCode, trace, type Attributes, type Meter, type Tracer } from '@opentelemetry/api';
import { status } from '@grpc/grpc-js';
import { DATA_AGE_KEY } from '../../lib/token/index.js';
import type { AttemptEnd, AttemptObserver, AttemptScope, AttemptStart } from './attempt-observer.js';
import { breakerState } from './breaker-factory.js';
import type { FaultDomain } from './fault-domain.js';
import { innerMap, LabelCounts, LATENCY_BUCKETS_SECONDS, type LabelCount } from '../../lib/telemetry/label-counts.js';
import { NO_SPAN, tracingActive } from '../../lib/telemetry/tracing-active.js';

const TRACER = 'authmesh-gateway';

const BREAKER_STATES = ['closed', 'half-open', 'open'] as const;

/**
 * Turns the failover loop's attempts and the breakers' transitions into OpenTelemetry spans and
 * metrics through @opentelemetry/api alone (no-ops when no SDK is registered).
 *
 * - on the gateway's server span, the routing plan (`authmesh.route.order`, `.skipped`, and
 *   `.rerouted` when the home domain is not tried first);
 * - a span `authmesh.attempt` per attempt, child of the gateway's server span, with
 *   `authmesh.fault_domain`, `authmesh.breaker.state`, `authmesh.attempt`, `authmesh.outcome`,
 *   `authmesh.failover.reason` when the loop moved on, and `authmesh.data_age_ms` on an answer;
 *   the outgoing call runs inside it, so the domain's server span joins the same trace;
 * - a breaker transition becomes an event `authmesh.breaker.<state>` on the span in progress, or
 *   a short span `authmesh.breaker` of its own when it happens outside a call (half-open timer);
 * - metrics `authmesh_gateway_attempts_total`, `authmesh_gateway_attempt_duration_seconds`,
 *   `authmesh_gateway_failovers_total`, `authmesh_gateway_breaker_state` (a state set: 1 on the
 *   state the domain's breaker is in, 0 on the others), `authmesh_gateway_breaker_transitions_total`.
 *
 * Label sets are made once per domain and outcome, not per attempt.
 */
export function attemptTelemetry(domains: readonly FaultDomain[]): AttemptObserver {
  const tracer = trace.getTracer(TRACER);
  const meter = metrics.getMeter('authmesh-gateway');
  const attemptsTotal = new LabelCounts(meter, 'authmesh_gateway_attempts', 'Attempts on a fault domain by outcome');
  const failovers = meter.createCounter('authmesh_gateway_failovers', { description: 'Attempts the gateway moved on from, by domain and reason' });
  const duration = meter.createHistogram('authmesh_gateway_attempt_duration_seconds', {
    description: 'Time of one attempt on a fault domain',
    unit: 's',
    advice: { explicitBucketBoundaries: [...LATENCY_BUCKETS_SECONDS] },
  });
  breakerTelemetry(domains, meter, tracer);
  /** Attempt counts per domain and outcome, made on first use. */
  const outcomeCounts = new Map<string, Map<string, LabelCount>>();
  const attemptCount = (domain: string, outcome: string): LabelCount => {
    const byOutcome = innerMap(outcomeCounts, domain);
    let count = byOutcome.get(outcome);
    if (count === undefined) {
      count = attemptsTotal.add(Object.freeze({ fault_domain: domain, outcome }));
      byOutcome.set(outcome, count);
    }
    return count;
  };

  const home = domains[0]?.name;
  return {
    planned(order, skipped) {
      // On the gateway's server span: a domain that is down before the call starts (breaker
      // open, health watch lost) shows here as a reroute rather than as a failed attempt.
      // The front always starts a server span; without an SDK it records nothing.
      const span = trace.getActiveSpan();
      if (span?.isRecording() !== true) return;
      span.setAttributes({
        'authmesh.route.order': [...order],
        'authmesh.route.skipped': skipped.map((s) => `${s.name}: ${s.why}`),
        'authmesh.route.rerouted': order[0] !== home,
      });
    },
    begin(start: AttemptStart): AttemptScope {
      // Telemetry off: the attempt runs in the caller's context, with no span that would go nowhere.
      const traced = tracingActive(TRACER);
      const span = traced
        ? tracer.startSpan('authmesh.attempt', {
            attributes: {
              'authmesh.fault_domain': start.domain,
              'authmesh.breaker.state': start.breaker,
              'authmesh.attempt': start.attempt,
              'rpc.method': start.method,
            },
          })
        : NO_SPAN;
      const ctx = traced ? trace.setSpan(context.active(), span) : undefined;
      return {
        run: (call) => (ctx === undefined ? call() : context.with(ctx, call)),
        end(end: AttemptEnd) {
          const count = attemptCount(start.domain, end.outcome);
          count.n += 1;
          duration.record(end.ms / 1000, count.labels);
          if (traced) span.setAttributes(endAttributes(end));
          if (end.outcome === 'fault' || end.outcome === 'refused') {
            failovers.add(1, { fault_domain: start.domain, reason: end.reason });
            span.setStatus({ code: SpanStatusCode.ERROR, message: end.details });
          }
          span.end();
        },
      };
    },
  };
}

/** The breakers' state set gauge and transition counts, and each transition as a span event. */
function breakerTelemetry(domains: readonly FaultDomain[], meter: Meter, tracer: Tracer): void {
  const transitions = meter.createCounter('authmesh_gateway_breaker_transitions', { description: 'Breaker state changes by domain and new state' });
  const stateLabels = new Map(domains.map((d) => [d.name, Object.fromEntries(BREAKER_STATES.map((state) => [state, Object.freeze({ fault_domain: d.name, state })]))]));
  meter
    .createObservableGauge('authmesh_gateway_breaker_state', { description: 'Breaker state per fault domain as a state set: 1 on the state it is in, 0 on the others' })
    .addCallback((result) => {
      for (const d of domains) {
        const now = breakerState(d.breaker);
        for (const state of BREAKER_STATES) result.observe(state === now ? 1 : 0, stateLabels.get(d.name)![state]);
      }
    });
  for (const d of domains) {
    // Every transition series exists from the start at 0, so a rate over it is defined before the first change.
    for (const state of BREAKER_STATES) transitions.add(0, stateLabels.get(d.name)![state]);
    d.on('breaker', (state) => {
      transitions.add(1, stateLabels.get(d.name)![state]);
      const attributes = { 'authmesh.fault_domain': d.name, 'authmesh.breaker.state': state };
      const active = trace.getActiveSpan();
      if (active?.isRecording() === true) {
        active.addEvent(`authmesh.breaker.${state}`, attributes);
      } else {
        const span = tracer.startSpan('authmesh.breaker', { attributes });
        span.addEvent(`authmesh.breaker.${state}`, attributes);
        span.end();
      }
    });
  }
}

function endAttributes(end: AttemptEnd): Attributes {
  const out: Attributes = { 'authmesh.outcome': end.outcome };
  switch (end.outcome) {
    case 'answered': {
      const age = Number(end.trailers.get(DATA_AGE_KEY)[0]);
      if (Number.isFinite(age)) out['authmesh.data_age_ms'] = age;
      break;
    }
    case 'caller-error':
      out['rpc.grpc.status_code'] = end.code;
      break;
    case 'fault':
      out['rpc.grpc.status_code'] = end.code;
      out['authmesh.failover.reason'] = end.reason;
      break;
    case 'refused':
      out['authmesh.failover.reason'] = end.reason;
      break;
    case 'cancelled':
      out['rpc.grpc.status_code'] = status.CANCELLED;
      break;
  }
  return out;
}
