/** Request counts and durations of the gateway's fronts, by method, status and answering domain. */
import { performance } from 'node:perf_hooks';
import { status, type Metadata } from '@grpc/grpc-js';
import { metrics, type Attributes, type Histogram } from '@opentelemetry/api';
import { OAUTH_ERROR_KEY } from '../../lib/grpc/index.js';
import { innerMap, LabelCounts, LATENCY_BUCKETS_SECONDS, type LabelCount } from '../../lib/telemetry/label-counts.js';

/** `UNAVAILABLE`, `OK`, … by numeric gRPC status, made once. */
const CODE_NAMES: ReadonlyMap<number, string> = new Map(
  Object.entries(status)
    .filter((e): e is [string, number] => typeof e[1] === 'number')
    .map(([name, code]) => [code, name]),
);

/** The label value of a gRPC status code. */
export function grpcCodeName(code: number): string {
  return CODE_NAMES.get(code) ?? String(code);
}

/** The `oauth-error` trailer of a status, or '' when there is none. */
export function oauthErrorOf(trailers: Metadata | undefined): string {
  const v = trailers?.get(OAUTH_ERROR_KEY)[0];
  return typeof v === 'string' ? v : '';
}

/** The metrics of one token method at one front. */
export interface MethodMetrics {
  /** Counts a finished call and records its duration from `startedAt` ({@link now}). */
  record(startedAt: number, code: number, oauthError: string, faultDomain: string): void;
}

/** A monotonic clock in milliseconds for {@link MethodMetrics.record}. */
export const now = (): number => performance.now();

/**
 * `authmesh_gateway_requests_total{method, grpc_code, oauth_error, fault_domain}` and
 * `authmesh_gateway_request_duration_seconds{method, grpc_code}`: what callers of the gateway saw,
 * one count per token call at the front that answered it. The label sets are built once per
 * distinct combination and kept, so a call costs a few map lookups and no allocation.
 */
export class RequestMetrics {
  private readonly total: LabelCounts;
  private readonly duration: Histogram;
  private readonly methods = new Map<string, MethodMetrics>();

  constructor() {
    const meter = metrics.getMeter('authmesh-gateway');
    this.total = new LabelCounts(meter, 'authmesh_gateway_requests', 'Token calls answered by the gateway, by method, gRPC status, OAuth error and the fault domain that answered');
    this.duration = meter.createHistogram('authmesh_gateway_request_duration_seconds', {
      description: 'Time from a token call reaching the gateway to its answer',
      unit: 's',
      advice: { explicitBucketBoundaries: [...LATENCY_BUCKETS_SECONDS] },
    });
  }

  /** The recorder of one method (`AcquireToken`, `GetJwks`). */
  method(name: string): MethodMetrics {
    let m = this.methods.get(name);
    if (m === undefined) {
      m = methodMetrics(name, this.total, this.duration);
      this.methods.set(name, m);
    }
    return m;
  }
}

function methodMetrics(method: string, total: LabelCounts, duration: Histogram): MethodMetrics {
  // code → oauth error → fault domain → count; code → histogram labels.
  const countLabels = new Map<number, Map<string, Map<string, LabelCount>>>();
  const durationLabels = new Map<number, Attributes>();
  return {
    record(startedAt, code, oauthError, faultDomain) {
      // Label sets are built on a combination's first call and kept: no allocation after that.
      const byDomain = innerMap(innerMap(countLabels, code), oauthError);
      let count = byDomain.get(faultDomain);
      if (count === undefined) {
        count = total.add(Object.freeze({ method, grpc_code: grpcCodeName(code), oauth_error: oauthError, fault_domain: faultDomain }));
        byDomain.set(faultDomain, count);
        if (!durationLabels.has(code)) durationLabels.set(code, Object.freeze({ method, grpc_code: grpcCodeName(code) }));
      }
      count.n += 1;
      duration.record((performance.now() - startedAt) / 1000, durationLabels.get(code));
    },
  };
}

/** What an HTTP front's caller was answered, in the terms of {@link MethodMetrics.record}; OK until set. */
export interface CallOutcome {
  code: number;
  oauthError: string;
  faultDomain: string;
}
