/** The retry budget (gRFC A6 retry throttling) that bounds failover attempts past the first. */
import { systemClock, type Clock } from '../../lib/clock/index.js';

/** Options of {@link RetryBudget}; the first two names follow gRFC A6 retry throttling. */
export interface RetryBudgetOptions {
  /**
   * Capacity of each domain's bucket, and where it starts. Failovers into a domain are allowed
   * only while more than half of its bucket is left. Default 100 (a gateway serves many calls;
   * A6's example of 10 suits one client).
   */
  maxTokens?: number;
  /**
   * Tokens a domain earns back per successful attempt. Default 0.1: once more than about 1
   * attempt in 11 on a domain fails for a sustained period, its bucket drains and failovers stop
   * sending it more load.
   */
  tokenRatio?: number;
  /**
   * Tokens a domain earns back per second whatever its traffic. Default maxTokens / 20: a
   * drained bucket allows failovers again after 10 s without faults, the length of the stats
   * window. Successes alone cannot refill a domain that gets no calls of its own: global ranked
   * behind a flaky home regional, drained by an earlier outage, would otherwise never again take
   * the calls regional fails, however healthy it is now. Sustained faults still drain a bucket
   * faster than this refills it (one token per fault), so failovers still stop under a storm.
   */
  refillPerSecond?: number;
}

/** The refill rate a budget of `maxTokens` gets when none is set: a drained bucket is full again after 20 s. */
export const defaultRefillPerSecond = (maxTokens: number): number => maxTokens / 20;

/**
 * Retry throttling in the spirit of gRFC A6, kept per fault domain as A6 keeps it per server:
 * a failed attempt that reached a domain costs that domain one token, a successful attempt earns
 * it `tokenRatio`, and every domain earns `refillPerSecond` as time passes. The first attempt of a
 * call is always sent (its breaker guards it); a failover (second or later attempt) into a domain
 * is sent only while that domain's tokens > maxTokens / 2. Refusals by an open breaker cost
 * nothing: they put no load on the domain.
 *
 * Keeping the buckets per domain is what makes failover safe under load: a dead or hung regional
 * drains only its own bucket, so calls keep moving to a global that answers; once global's own
 * attempts mostly fail too, failovers into it stop and the mesh is not flooded with retries.
 */
export class RetryBudget {
  readonly maxTokens: number;
  readonly tokenRatio: number;
  readonly refillPerSecond: number;
  /** Each domain's tokens as of `at` (ms, by the clock); a domain not in it has a full bucket. */
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    options: RetryBudgetOptions = {},
    private readonly clock: Clock = systemClock,
  ) {
    this.maxTokens = options.maxTokens ?? 100;
    this.tokenRatio = options.tokenRatio ?? 0.1;
    this.refillPerSecond = options.refillPerSecond ?? defaultRefillPerSecond(this.maxTokens);
    if (!(this.maxTokens > 0)) throw new RangeError(`retry budget maxTokens must be > 0, got ${this.maxTokens}`);
    if (!(this.tokenRatio > 0)) throw new RangeError(`retry budget tokenRatio must be > 0, got ${this.tokenRatio}`);
    if (!(this.refillPerSecond >= 0)) throw new RangeError(`retry budget refillPerSecond must be >= 0, got ${this.refillPerSecond}`);
  }

  /** Tokens left in one domain's bucket. */
  tokensOf(domain: string): number {
    const b = this.buckets.get(domain);
    if (b === undefined) return this.maxTokens;
    const elapsed = Math.max(0, this.clock.now() - b.at);
    return Math.min(this.maxTokens, b.tokens + (elapsed * this.refillPerSecond) / 1000);
  }

  /** The lowest bucket: how close the most troubled domain is to being shut out of failovers. */
  get tokens(): number {
    let lowest = this.maxTokens;
    for (const domain of this.buckets.keys()) lowest = Math.min(lowest, this.tokensOf(domain));
    return lowest;
  }

  /** Whether a failover attempt into `domain` may be sent now. */
  allowFailover(domain: string): boolean {
    return this.tokensOf(domain) > this.maxTokens / 2;
  }

  /** An attempt reached `domain` and failed with a retryable fault. */
  onFailure(domain: string): void {
    this.set(domain, Math.max(0, this.tokensOf(domain) - 1));
  }

  /** An attempt on `domain` got an answer (a token, a key set, or a caller error). */
  onSuccess(domain: string): void {
    this.set(domain, Math.min(this.maxTokens, this.tokensOf(domain) + this.tokenRatio));
  }

  private set(domain: string, tokens: number): void {
    const at = this.clock.now();
    const b = this.buckets.get(domain);
    if (b === undefined) this.buckets.set(domain, { tokens, at });
    else {
      b.tokens = tokens;
      b.at = at;
    }
  }
}
