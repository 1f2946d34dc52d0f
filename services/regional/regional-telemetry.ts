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
 * size and change-feed lag. Hits and misses are counters (`authmesh_regional_cache_lookups_total`
 * by result); a hit ratio is for the query to compute. Uses @opentelemetry/api alone (no-ops
 * without an SDK). Label sets are made once.
 */
export function regionalTelemetry(cache: DirectoryCache, region: string): RegionalTelemetry {
  const meter = metrics.getMeter('authmesh-regional');
  const lookups = meter.createCounter('authmesh_regional_cache_lookups', { description: 'Identity lookups by result (hit, negative-hit, miss)' });
  const fills = meter.createCounter('authmesh_regional_cache_fills', { description: 'Cache miss fills from global by outcome' });
  const fillTime = meter.createHistogram('authmesh_regional_cache_fill_duration_seconds', {
    description: 'Time to fill a cache miss from global',
    unit: 's',
    advice: { explicitBucketBoundaries: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5] },
  });
  const labels = Object.freeze({ region });
  const lookupLabels = {
    hit: Object.freeze({ region, result: 'hit' }),
    negativeHit: Object.freeze({ region, result: 'negative-hit' }),
    miss: Object.freeze({ region, result: 'miss' }),
  };
  const fillLabels = { ok: Object.freeze({ region, outcome: 'ok' }), failed: Object.freeze({ region, outcome: 'failed' }) };
  meter.createObservableGauge('authmesh_regional_cache_size', { description: 'Identities in the regional cache' }).addCallback((r) => r.observe(cache.size, labels));
  meter.createObservableGauge('authmesh_regional_change_feed_lag', { description: 'Revisions global has that this region has not applied' }).addCallback((r) => r.observe(cache.lag, labels));
  meter.createObservableGauge('authmesh_regional_revision', { description: 'Highest directory revision applied' }).addCallback((r) => r.observe(cache.revision, labels));

  return {
    onLookup(event) {
      const span = trace.getActiveSpan();
      switch (event.type) {
        case 'hit':
          lookups.add(1, event.negative ? lookupLabels.negativeHit : lookupLabels.hit);
          span?.setAttributes({ 'authmesh.cache.result': event.negative ? 'negative-hit' : 'hit', 'authmesh.watch.lag': cache.lag });
          break;
        case 'fill':
          // One fill serves every caller waiting on that client: counted as one miss.
          lookups.add(1, lookupLabels.miss);
          span?.setAttributes({ 'authmesh.cache.result': 'miss', 'authmesh.watch.lag': cache.lag });
          fills.add(1, event.ok ? fillLabels.ok : fillLabels.failed);
          fillTime.record(event.ms / 1000, event.ok ? fillLabels.ok : fillLabels.failed);
          span?.addEvent('authmesh.cache.fill', { 'authmesh.cache.fill.ok': event.ok, 'authmesh.cache.fill.ms': event.ms });
          break;
        case 'fill-wait-abandoned':
          span?.addEvent('authmesh.cache.fill.abandoned');
          break;
      }
    },
  };
}
