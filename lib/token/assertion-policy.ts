import { overloaded } from '../errors/index.js';
import { ASSERTION_CLOCK_SKEW_SECONDS, MAX_ASSERTION_LIFETIME_SECONDS } from './constants.js';

/** Options of {@link AssertionPolicy}. */
export interface AssertionPolicyOptions {
  /**
   * Longest client assertion lifetime accepted, in seconds: `exp - iat`, or `exp - now` when the
   * assertion has no `iat` (`nbf` stands in for `iat` when present). Default 3600.
   */
  maxLifetimeSeconds?: number;
  /**
   * Most assertion ids remembered for clients that refuse reuse. When that many unexpired ids are
   * held, such clients are answered `temporarily_unavailable` (overloaded) rather than letting an
   * id be forgotten while it could still be replayed. Default 100,000.
   */
  replayCapacity?: number;
}

/**
 * How one fault domain instance treats client assertions beyond their signature: the lifetime cap,
 * and the ids (`jti`) already used by clients whose application or tenant refuses reuse.
 *
 * Reuse until `exp` is the default because SDKs reuse an assertion while it is valid. The ids are
 * kept in this process only: in a mesh every fault domain instance (each regional, each global
 * instance, the backup) refuses a second use it has seen itself, not one seen by another.
 */
export class AssertionPolicy {
  readonly maxLifetimeSeconds: number;
  readonly replayCapacity: number;
  /** `<tenant>/<client>/<jti>` → second until which a replay would still verify. */
  private readonly used = new Map<string, number>();

  constructor(options: AssertionPolicyOptions = {}) {
    this.maxLifetimeSeconds = options.maxLifetimeSeconds ?? MAX_ASSERTION_LIFETIME_SECONDS;
    this.replayCapacity = options.replayCapacity ?? 100_000;
    if (!Number.isInteger(this.maxLifetimeSeconds) || this.maxLifetimeSeconds < 1) throw new RangeError('maxLifetimeSeconds must be a positive integer');
    if (!Number.isInteger(this.replayCapacity) || this.replayCapacity < 1) throw new RangeError('replayCapacity must be a positive integer');
  }

  /** Assertion ids remembered now. */
  get remembered(): number {
    return this.used.size;
  }

  /**
   * Records the first use of `jti` for a client and returns true; false when it was used before
   * and could still be presented (until `exp` plus the tolerated skew).
   */
  firstUse(tenantId: string, clientId: string, jti: string, exp: number, nowSeconds: number): boolean {
    const key = `${tenantId}/${clientId}/${jti}`;
    const until = this.used.get(key);
    if (until !== undefined && until >= nowSeconds) return false;
    if (until === undefined && this.used.size >= this.replayCapacity) {
      for (const [k, t] of this.used) if (t < nowSeconds) this.used.delete(k);
      if (this.used.size >= this.replayCapacity) throw overloaded('too many assertion ids are held for replay refusal; retry shortly');
    }
    this.used.delete(key);
    this.used.set(key, exp + ASSERTION_CLOCK_SKEW_SECONDS);
    return true;
  }
}
