/** A short-lived snapshot of every domain's breaker, health and recent figures, shared by the calls routed from it. */
import type { Clock } from '../../lib/clock/index.js';
import type { RecentFigures } from './stats.js';

/** Breaker state as routing sees it. */
export type BreakerView = 'closed' | 'open' | 'half-open';

/**
 * What the grpc.health.v1 Watch on a domain last said. `unknown`: no answer yet since the watch
 * (re)started; `unreachable`: the watch stream failed and is reconnecting.
 */
export type HealthView = 'unknown' | 'serving' | 'not-serving' | 'unreachable';

/** One fault domain at the instant of a snapshot. Plain data: routing never touches live objects. */
export interface DomainView {
  name: string;
  /** 0 for the home regional, 1 for global, 2 for backup. */
  priority: number;
  breaker: BreakerView;
  /** A half-open breaker lets one probe through; true while that probe is out. */
  probeInFlight: boolean;
  /** True while a refresh copy (see `RoutePlan.refreshes`) is out to this domain. */
  refreshInFlight: boolean;
  health: HealthView;
  recent: RecentFigures;
}

/** Every fault domain at one instant, in priority order. Routing is a pure function of this. */
export interface HealthSnapshot {
  takenAt: number;
  domains: readonly DomainView[];
}

/** Anything that can describe itself as a {@link DomainView}. */
export interface ViewableDomain {
  view(): DomainView;
}

/**
 * Builds snapshots and reuses one for up to `maxAgeMs`, so the per-call cost of routing stays a
 * few comparisons; any breaker or health transition calls {@link invalidate} so routing reacts at
 * once to an open breaker or a NOT_SERVING watch.
 */
export class SnapshotSource {
  private cached: HealthSnapshot | undefined;

  constructor(
    private readonly domains: readonly ViewableDomain[],
    private readonly clock: Clock,
    /** How long a snapshot is reused, in ms. Default 100. 0 rebuilds it for every call. */
    private readonly maxAgeMs = 100,
  ) {}

  current(): HealthSnapshot {
    const now = this.clock.now();
    if (this.cached !== undefined && now - this.cached.takenAt < this.maxAgeMs && now >= this.cached.takenAt) return this.cached;
    this.cached = { takenAt: now, domains: this.domains.map((d) => d.view()) };
    return this.cached;
  }

  invalidate(): void {
    this.cached = undefined;
  }
}
