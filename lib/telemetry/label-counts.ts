/** Metric helpers shared by the gateway's fronts and its routing: latency buckets and cheap label counts. */
import type { Attributes, Meter } from '@opentelemetry/api';

/** Bucket bounds, seconds, of every request and attempt duration: sub-millisecond to 10 s. */
export const LATENCY_BUCKETS_SECONDS: readonly number[] = Object.freeze([
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
]);

/** One label set's count in a {@link LabelCounts}. */
export interface LabelCount {
  readonly labels: Attributes;
  n: number;
}

/**
 * A counter whose counts are plain numbers, one per label set, reported by an ObservableCounter
 * at each scrape: counting costs an increment, where the SDK's `Counter.add` hashes the attribute
 * set on every call.
 */
export class LabelCounts {
  private readonly counts: LabelCount[] = [];

  constructor(meter: Meter, name: string, description: string) {
    meter.createObservableCounter(name, { description }).addCallback((result) => {
      for (const c of this.counts) result.observe(c.n, c.labels);
    });
  }

  /** A new count for `labels` (made once per label set by the caller), reported from now on. */
  add(labels: Attributes): LabelCount {
    const c = { labels, n: 0 };
    this.counts.push(c);
    return c;
  }
}

/** The inner map of `map` at `key`, made on first use. */
export function innerMap<K, K2, V>(map: Map<K, Map<K2, V>>, key: K): Map<K2, V> {
  let inner = map.get(key);
  if (inner === undefined) {
    inner = new Map();
    map.set(key, inner);
  }
  return inner;
}
