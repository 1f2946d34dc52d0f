/** Per-domain request counts and a rolling window of errors and latencies, for routing and the status API. */
import type { Clock } from '../../lib/clock/index.js';

/** Options of {@link DomainStats}. */
export interface StatsOptions {
  /** Length of the recent window used for error rate and latency, in ms. Default 10000. */
  windowMs?: number;
  /** Number of buckets the window is split into; a bucket ages out as a whole. Default 10. */
  buckets?: number;
  /** Latency samples kept per bucket (reservoir sampled beyond that). Default 256. */
  samplesPerBucket?: number;
  /** Source of randomness for reservoir sampling, injectable for tests. Default Math.random. */
  random?: () => number;
}

/** Cumulative counts since start, for the status API. */
export interface DomainTotals {
  requests: number;
  errors: number;
  callerErrors: number;
  failovers: number;
}

/** Figures over the recent window, for routing and the status API. */
export interface RecentFigures {
  /** Attempts that ended (success, fault or caller error) in the window. */
  attempts: number;
  /** Faults / attempts in the window, 0 when there were no attempts. */
  errorRate: number;
  /** Latency percentiles of successful attempts in the window, in ms; 0 when none. */
  p50Ms: number;
  p99Ms: number;
  /** Number of latency samples the percentiles come from. */
  latencySamples: number;
  /** When the last attempt ended (ms since the epoch, by the stats clock); 0 before the first. */
  lastAttemptAt: number;
}

interface Bucket {
  /** Start of the bucket's slot, in ms since the epoch. */
  start: number;
  attempts: number;
  faults: number;
  latencies: number[];
  /** Successful attempts seen by the bucket (for reservoir sampling). */
  seen: number;
}

/**
 * Per-domain counts, error rate and recent p50/p99 latency. Time comes from the injected clock,
 * so tests move it by hand. Caller errors count as answers (the domain worked), not as faults.
 */
export class DomainStats {
  readonly totals: DomainTotals = { requests: 0, errors: 0, callerErrors: 0, failovers: 0 };
  private readonly bucketMs: number;
  private readonly ring: Bucket[];
  private readonly samplesPerBucket: number;
  private readonly random: () => number;
  /** Where {@link recent} gathers and sorts the window's latencies, so it allocates nothing per call. */
  private readonly scratch: Float64Array;
  private lastAttemptAt = 0;

  constructor(
    private readonly clock: Clock,
    options: StatsOptions = {},
  ) {
    const windowMs = options.windowMs ?? 10_000;
    const buckets = options.buckets ?? 10;
    if (!(windowMs > 0) || !Number.isInteger(buckets) || buckets < 1) throw new RangeError('stats window and buckets must be positive');
    this.bucketMs = windowMs / buckets;
    this.samplesPerBucket = options.samplesPerBucket ?? 256;
    this.random = options.random ?? Math.random;
    this.ring = Array.from({ length: buckets }, () => ({ start: -Infinity, attempts: 0, faults: 0, latencies: [], seen: 0 }));
    this.scratch = new Float64Array(buckets * this.samplesPerBucket);
  }

  /** An attempt is sent to the domain. */
  recordRequest(): void {
    this.totals.requests += 1;
  }

  /** The domain answered with a token or key set after `latencyMs`. */
  recordSuccess(latencyMs: number | undefined): void {
    const b = this.current();
    b.attempts += 1;
    // An answer nobody waited for (a hedge already answered the caller) counts, but its latency
    // says more about a hang that has ended than about the domain now.
    if (latencyMs === undefined) return;
    b.seen += 1;
    if (b.latencies.length < this.samplesPerBucket) b.latencies.push(latencyMs);
    else {
      const i = Math.floor(this.random() * b.seen);
      if (i < this.samplesPerBucket) b.latencies[i] = latencyMs;
    }
  }

  /** The domain answered with a caller error: it works, so this is not a fault. */
  recordCallerError(): void {
    this.totals.callerErrors += 1;
    this.current().attempts += 1;
  }

  /** The attempt failed with a fault (unavailable, timeout, connection error, breaker open). */
  recordFault(): void {
    this.totals.errors += 1;
    const b = this.current();
    b.attempts += 1;
    b.faults += 1;
  }

  /** A call moved on from this domain to the next one. */
  recordFailover(): void {
    this.totals.failovers += 1;
  }

  /**
   * Forgets the faults of the recent window (latency is kept). Called when the breaker closes:
   * the domain has just proved itself, and stale faults would otherwise keep it demoted.
   */
  forgetFaults(): void {
    for (const b of this.ring) {
      b.attempts -= b.faults;
      b.faults = 0;
    }
  }

  /**
   * Forgets everything in the recent window, faults and latencies. Called when a domain that was
   * ranked behind on old figures answers a refresh well: those figures no longer describe it.
   */
  forgetFigures(): void {
    // A bucket outside the window is skipped by recent() and cleared by current() when reused.
    for (const b of this.ring) b.start = -Infinity;
  }

  /** Figures over the buckets still inside the window. */
  recent(): RecentFigures {
    const oldest = this.slotStart(this.clock.now()) - this.bucketMs * (this.ring.length - 1);
    let attempts = 0;
    let faults = 0;
    let n = 0;
    for (const b of this.ring) {
      if (b.start < oldest) continue;
      attempts += b.attempts;
      faults += b.faults;
      for (let i = 0; i < b.latencies.length; i += 1) this.scratch[n++] = b.latencies[i]!;
    }
    // A typed array sorts numerically in place.
    const latencies = this.scratch.subarray(0, n).sort();
    return {
      attempts,
      errorRate: attempts === 0 ? 0 : faults / attempts,
      p50Ms: percentile(latencies, 0.5),
      p99Ms: percentile(latencies, 0.99),
      latencySamples: latencies.length,
      lastAttemptAt: this.lastAttemptAt,
    };
  }

  private slotStart(now: number): number {
    return Math.floor(now / this.bucketMs) * this.bucketMs;
  }

  /** The bucket of now, for an attempt that just ended. */
  private current(): Bucket {
    const now = this.clock.now();
    this.lastAttemptAt = now;
    const start = this.slotStart(now);
    const index = Math.floor(start / this.bucketMs) % this.ring.length;
    const b = this.ring[index]!;
    if (b.start !== start) {
      b.start = start;
      b.attempts = 0;
      b.faults = 0;
      b.latencies.length = 0;
      b.seen = 0;
    }
    return b;
  }
}

/** Nearest-rank percentile of sorted values; 0 for an empty list. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(p * sorted.length)));
  return sorted[rank - 1]!;
}
