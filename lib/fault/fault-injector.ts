import { status, type StatusObject } from '@grpc/grpc-js';
import { unavailable } from '../errors/index.js';
import { toStatus } from '../grpc/status-map.js';

/** Faults a process applies to its calls; all zero means none. */
export interface Faults {
  /** Added before every affected call is served, in ms. */
  latencyMs: number;
  /** Fraction of affected calls, in [0, 1], answered with `errorCode`. */
  errorRate: number;
  /** gRPC status of injected failures. */
  errorCode: status;
}

/** Longest latency that may be injected: long enough for any deadline, short enough to end. */
export const MAX_INJECTED_LATENCY_MS = 60_000;

const NONE: Faults = Object.freeze({ latencyMs: 0, errorRate: 0, errorCode: status.UNAVAILABLE });

export interface FaultInjectorOptions {
  /** Source of randomness in [0, 1) (default Math.random), injectable for tests. */
  random?: () => number;
  /** Waits ms milliseconds (default setTimeout), injectable for tests. */
  sleep?: (ms: number) => Promise<void>;
}

/**
 * The faults currently in effect in this process and how to apply them to one call. It exists
 * only when the process was started with fault injection enabled.
 */
export class FaultInjector {
  private faults: Faults = NONE;
  private readonly random: () => number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(options: FaultInjectorOptions = {}) {
    this.random = options.random ?? Math.random;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  /** Replaces the faults in effect; throws RangeError on values outside their bounds. */
  set(faults: Partial<Faults>): Faults {
    const next: Faults = { ...NONE, ...faults };
    if (!Number.isInteger(next.latencyMs) || next.latencyMs < 0 || next.latencyMs > MAX_INJECTED_LATENCY_MS) {
      throw new RangeError(`latency_ms must be 0..${MAX_INJECTED_LATENCY_MS}`);
    }
    if (!(next.errorRate >= 0 && next.errorRate <= 1)) throw new RangeError('error_rate must be in [0, 1]');
    if (!Number.isInteger(next.errorCode) || next.errorCode < 1 || next.errorCode > 16) throw new RangeError('error_code must be a gRPC status 1..16');
    this.faults = Object.freeze(next);
    return this.faults;
  }

  clear(): void {
    this.faults = NONE;
  }

  current(): Faults {
    return this.faults;
  }

  /**
   * Applies the faults to one call: waits the injected latency, then returns the status to fail
   * it with, or undefined to serve it.
   */
  async apply(): Promise<Partial<StatusObject> | undefined> {
    const { latencyMs, errorRate, errorCode } = this.faults;
    if (latencyMs > 0) await this.sleep(latencyMs);
    if (errorRate <= 0 || this.random() >= errorRate) return undefined;
    const injected = toStatus(unavailable('fault-injected', 'fault injected'));
    return { ...injected, code: errorCode };
  }
}
