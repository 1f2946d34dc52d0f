import { metrics, trace } from '@opentelemetry/api';
import type { DirectoryCache } from './directory-cache.js';
import type { LookupEvent } from './regional-directory.js';

/** What the regional telemetry adapter listens to. */
export interface RegionalTelemetry {
  onLookup(event: LookupEvent): void;
}

/**
 * Turns the regional directory's lookup events into span attributes and events on the token
 * request in progress (`authmesh.cache.result` hit / miss, `authmesh.cache.fill` with its outcome,
 * `authmesh.watch.lag` in revisions) and into metrics: lookups by result, fills by outcome, cache
 * size, hit ratio and change-feed lag. Uses @opentelemetry/api alone (no-ops without an SDK).
 */
export function regionalTelemetry(cache: DirectoryCache, region: string): RegionalTelemetry {
  const meter = metrics.getMeter('authmesh-regional');
  const lookups = meter.createCounter('authmesh_regional_cache_lookups', { description: 'Identity lookups by result (hit, negative-hit, miss)' });
  const fills = meter.createCounter('authmesh_regional_cache_fills', { description: 'Cache miss fills from global by outcome' });
  const fillTime = meter.createHistogram('authmesh_regional_cache_fill_duration', {
    description: 'Time to fill a cache miss from global',
    unit: 'ms',
    advice: { explicitBucketBoundaries: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 3000] },
  });
  let hits = 0;
  let misses = 0;
  const labels = { region };
  meter.createObservableGauge('authmesh_regional_cache_size', { description: 'Identities in the regional cache' }).addCallback((r) => r.observe(cache.size, labels));
  meter.createObservableGauge('authmesh_regional_cache_hit_ratio', { description: 'Cache hits over lookups since start' }).addCallback((r) => {
    if (hits + misses > 0) r.observe(hits / (hits + misses), labels);
  });
  meter.createObservableGauge('authmesh_regional_change_feed_lag', { description: 'Revisions global has that this region has not applied' }).addCallback((r) => r.observe(cache.lag, labels));
  meter.createObservableGauge('authmesh_regional_revision', { description: 'Highest directory revision applied' }).addCallback((r) => r.observe(cache.revision, labels));

  return {
    onLookup(event) {
      const span = trace.getActiveSpan();
      switch (event.type) {
        case 'hit':
          hits += 1;
          lookups.add(1, { ...labels, result: event.negative ? 'negative-hit' : 'hit' });
          span?.setAttributes({ 'authmesh.cache.result': event.negative ? 'negative-hit' : 'hit', 'authmesh.watch.lag': cache.lag });
          break;
        case 'fill':
          // One fill serves every caller waiting on that client: counted as one miss.
          misses += 1;
          lookups.add(1, { ...labels, result: 'miss' });
          span?.setAttributes({ 'authmesh.cache.result': 'miss', 'authmesh.watch.lag': cache.lag });
          fills.add(1, { ...labels, outcome: event.ok ? 'ok' : 'failed' });
          fillTime.record(event.ms, { ...labels, outcome: event.ok ? 'ok' : 'failed' });
          span?.addEvent('authmesh.cache.fill', { 'authmesh.cache.fill.ok': event.ok, 'authmesh.cache.fill.ms': event.ms });
          break;
        case 'fill-wait-abandoned':
          span?.addEvent('authmesh.cache.fill.abandoned');
          break;
      }
    },
  };
}
