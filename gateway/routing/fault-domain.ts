/** One fault domain: its transport behind a breaker, its stats, outlier detection and health watch. */
import { EventEmitter } from 'node:events';
import type { Clock } from '../../lib/clock/index.js';
import { breakerState, createBreaker, type BreakerOptions, type DomainBreaker } from './breaker-factory.js';
import type { TokenBackend } from './token-backend.js';
import type { DomainView, HealthView } from './health-snapshot.js';
import type { HealthWatch } from './health-watch.js';
import { DEFAULT_OUTLIER_OPTIONS, detectOutliers, type Ejection, type OutlierOptions } from './outlier-detection.js';
import { DomainStats, type StatsOptions } from './stats.js';

/** Events a {@link FaultDomain} emits; adapters log and count them. */
export interface FaultDomainEvents {
  /** Breaker moved to `state`. */
  breaker: [state: 'closed' | 'open' | 'half-open'];
  /** Health watch now says `health`. */
  health: [health: HealthView];
  /** Attempt timeouts in a row opened the breaker (see outlier-detection.ts). */
  ejected: [ejection: Ejection];
}

export interface FaultDomainOptions {
  /** 0 home regional, 1 global, 2 backup. */
  priority: number;
  backend: TokenBackend;
  clock: Clock;
  breaker?: Partial<BreakerOptions>;
  stats?: StatsOptions;
  /** Consecutive-timeout ejection; default {@link DEFAULT_OUTLIER_OPTIONS}. */
  outlier?: Partial<OutlierOptions>;
  /** Builds the health watch, given the callback that reports changes; none = health unknown. */
  healthWatch?: (onChange: (health: HealthView) => void) => HealthWatch;
}

/**
 * One fault domain: its transport, its one breaker (made here, once), its health watch and its
 * figures. Created at start and kept for the life of the gateway.
 */
export class FaultDomain extends EventEmitter<FaultDomainEvents> {
  readonly name: string;
  readonly address: string;
  readonly priority: number;
  readonly backend: TokenBackend;
  readonly breaker: DomainBreaker;
  readonly stats: DomainStats;
  private readonly watch: HealthWatch | undefined;
  /** A refresh copy of a request is out (at most one at a time). */
  refreshInFlight = false;

  constructor(options: FaultDomainOptions) {
    super();
    this.name = options.backend.name;
    this.address = options.backend.address;
    this.priority = options.priority;
    this.backend = options.backend;
    this.stats = new DomainStats(options.clock, options.stats);
    this.breaker = createBreaker(options.backend, options.breaker);
    this.breaker.on('open', () => this.emit('breaker', 'open'));
    this.breaker.on('halfOpen', () => this.emit('breaker', 'half-open'));
    this.breaker.on('close', () => {
      // A closed breaker means the domain just answered: its old faults no longer say anything.
      this.stats.forgetFaults();
      this.emit('breaker', 'closed');
    });
    detectOutliers(this.name, this.breaker, options.clock, { ...DEFAULT_OUTLIER_OPTIONS, ...options.outlier }, (e) => this.emit('ejected', e));
    this.watch = options.healthWatch?.((health) => this.emit('health', health));
  }

  get health(): HealthView {
    return this.watch?.health ?? 'unknown';
  }

  /** A half-open breaker lets one call through; true once it has. */
  get probeInFlight(): boolean {
    return this.breaker.halfOpen && !this.breaker.pendingClose;
  }

  view(): DomainView {
    return {
      name: this.name,
      priority: this.priority,
      breaker: breakerState(this.breaker),
      probeInFlight: this.probeInFlight,
      refreshInFlight: this.refreshInFlight,
      health: this.health,
      recent: this.stats.recent(),
    };
  }

  start(): void {
    this.watch?.start();
  }

  close(): void {
    this.watch?.stop();
    this.breaker.shutdown();
    this.backend.close();
  }
}
