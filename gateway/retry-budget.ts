/** Options of {@link RetryBudget}; the names follow gRFC A6 retry throttling. */
export interface RetryBudgetOptions {
  /**
   * Bucket capacity, and where it starts. Failovers are allowed only while more than half of it
   * is left. Default 100 (a gateway serves many calls; A6's example of 10 suits one client).
   */
  maxTokens?: number;
  /**
   * Tokens earned back per successful attempt. Default 0.1: once more than about 1 attempt in 11
   * fails for a sustained period, the bucket drains and failovers stop amplifying load.
   */
  tokenRatio?: number;
}

/**
 * Retry throttling in the spirit of gRFC A6: a token bucket shared by every call of the gateway.
 * A failed attempt that reached a domain costs one token, a successful attempt earns `tokenRatio`.
 * The first attempt of a call is always sent; a failover (second or later attempt) is sent only
 * while tokens > maxTokens / 2. Refusals by an open breaker cost nothing: they put no load on the
 * domain. Count-based, so it needs no clock.
 *
 * A failover that got an answer also earns back the token its failed predecessor cost: the retry
 * did not amplify load for nothing, it moved the call to a domain that works. So the bucket
 * drains only while failovers fail too (most attempts failing), which is when they would only add
 * load; losing one domain while another answers never stops failover.
 */
export class RetryBudget {
  readonly maxTokens: number;
  readonly tokenRatio: number;
  private current: number;

  constructor(options: RetryBudgetOptions = {}) {
    this.maxTokens = options.maxTokens ?? 100;
    this.tokenRatio = options.tokenRatio ?? 0.1;
    if (!(this.maxTokens > 0)) throw new RangeError(`retry budget maxTokens must be > 0, got ${this.maxTokens}`);
    if (!(this.tokenRatio > 0)) throw new RangeError(`retry budget tokenRatio must be > 0, got ${this.tokenRatio}`);
    this.current = this.maxTokens;
  }

  get tokens(): number {
    return this.current;
  }

  /** Whether a failover attempt may be sent now. */
  allowFailover(): boolean {
    return this.current > this.maxTokens / 2;
  }

  /** An attempt reached a domain and failed with a retryable fault. */
  onFailure(): void {
    this.current = Math.max(0, this.current - 1);
  }

  /**
   * An attempt got an answer (a token, a key set, or a caller error). `afterFailover`: it was a
   * second or later attempt, so the failed attempt before it is refunded.
   */
  onSuccess(afterFailover = false): void {
    this.current = Math.min(this.maxTokens, this.current + this.tokenRatio + (afterFailover ? 1 : 0));
  }
}
