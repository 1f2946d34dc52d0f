/** Options of {@link RetryBudget}; the names follow gRFC A6 retry throttling. */
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
}

/**
 * Retry throttling in the spirit of gRFC A6, kept per fault domain as A6 keeps it per server:
 * a failed attempt that reached a domain costs that domain one token, a successful attempt earns
 * it `tokenRatio`. The first attempt of a call is always sent (its breaker guards it); a failover
 * (second or later attempt) into a domain is sent only while that domain's tokens > maxTokens / 2.
 * Refusals by an open breaker cost nothing: they put no load on the domain. Count-based, so it
 * needs no clock.
 *
 * Keeping the buckets per domain is what makes failover safe under load: a dead or hung regional
 * drains only its own bucket, so calls keep moving to a global that answers; once global's own
 * attempts mostly fail too, failovers into it stop and the mesh is not flooded with retries.
 */
export class RetryBudget {
  readonly maxTokens: number;
  readonly tokenRatio: number;
  private readonly buckets = new Map<string, number>();

  constructor(options: RetryBudgetOptions = {}) {
    this.maxTokens = options.maxTokens ?? 100;
    this.tokenRatio = options.tokenRatio ?? 0.1;
    if (!(this.maxTokens > 0)) throw new RangeError(`retry budget maxTokens must be > 0, got ${this.maxTokens}`);
    if (!(this.tokenRatio > 0)) throw new RangeError(`retry budget tokenRatio must be > 0, got ${this.tokenRatio}`);
  }

  /** Tokens left in one domain's bucket. */
  tokensOf(domain: string): number {
    return this.buckets.get(domain) ?? this.maxTokens;
  }

  /** The lowest bucket: how close the most troubled domain is to being shut out of failovers. */
  get tokens(): number {
    let lowest = this.maxTokens;
    for (const v of this.buckets.values()) lowest = Math.min(lowest, v);
    return lowest;
  }

  /** Whether a failover attempt into `domain` may be sent now. */
  allowFailover(domain: string): boolean {
    return this.tokensOf(domain) > this.maxTokens / 2;
  }

  /** An attempt reached `domain` and failed with a retryable fault. */
  onFailure(domain: string): void {
    this.buckets.set(domain, Math.max(0, this.tokensOf(domain) - 1));
  }

  /** An attempt on `domain` got an answer (a token, a key set, or a caller error). */
  onSuccess(domain: string): void {
    this.buckets.set(domain, Math.min(this.maxTokens, this.tokensOf(domain) + this.tokenRatio));
  }
}
