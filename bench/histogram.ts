import * as hdr from 'hdr-histogram-js';

/** Latency summary of one measured window, in milliseconds. */
export interface LatencySummary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

/**
 * A latency histogram in microseconds (1 µs to 60 s, 3 significant digits), so percentiles stay
 * exact to 0.1 % whatever the number of samples, with constant memory.
 */
export class LatencyHistogram {
  private readonly h = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3, bitBucketSize: 32 });

  recordMs(ms: number): void {
    this.h.recordValue(Math.max(1, Math.min(60_000_000, Math.round(ms * 1000))));
  }

  summary(): LatencySummary {
    const r = (us: number): number => Math.round(us) / 1000;
    return {
      count: this.h.totalCount,
      p50: r(this.h.getValueAtPercentile(50)),
      p90: r(this.h.getValueAtPercentile(90)),
      p99: r(this.h.getValueAtPercentile(99)),
      p999: r(this.h.getValueAtPercentile(99.9)),
      max: r(this.h.maxValue),
      mean: r(this.h.mean),
    };
  }
}
