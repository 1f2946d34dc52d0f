import { systemClock, type Clock } from '../lib/clock/index.js';
import type { AccessToken } from './access-token.js';
import { TokenRequestAbortedError } from './errors.js';

/** What a cache entry asks for when it needs a token: one request to the mesh. */
export type FetchToken = (deadline: number) => Promise<AccessToken>;

/** Every state change of the cache, for logs and metrics. */
export type TokenCacheEvent =
  | { type: 'fetch-started'; key: string; background: boolean }
  | { type: 'fetched'; key: string; background: boolean; faultDomain: string; expiresOn: number; refreshAfter: number }
  | { type: 'fetch-failed'; key: string; background: boolean; error: unknown; retryAt: number; failures: number };

export interface TokenCacheOptions {
  /** Source of time for expiry, refresh and backoff. Default the system clock. */
  clock?: Clock;
  /** Numbers in [0, 1) for jitter. Default Math.random. */
  random?: () => number;
  /** A token is no longer handed out when it expires within this many ms. Default 5000. */
  expiryMarginMs?: number;
  /**
   * Refresh starts at refresh_in plus up to this fraction of the time left between refresh_in
   * and expiry, so a fleet started together does not refresh together. Default 0.1.
   */
  refreshJitter?: number;
  /** First delay after a failed background refresh, in ms; doubles per failure. Default 1000. */
  retryBaseMs?: number;
  /** Largest delay between background refresh attempts, in ms. Default 30000. */
  retryCapMs?: number;
  /** Timeout of a background refresh request, in ms. Default 10000. */
  backgroundTimeoutMs?: number;
  onEvent?: (event: TokenCacheEvent) => void;
}

interface Entry {
  token?: AccessToken;
  inflight?: Promise<AccessToken>;
  failures: number;
  retryAt: number;
}

/**
 * Tokens per key (tenant, client, scope). A valid token is returned at once; once its refresh
 * time has passed one background request replaces it, and a failed one is retried with backoff
 * while the old token keeps serving. Callers wait only when no valid token is left, and every
 * caller waiting on the same key shares one request. Credentials can share one cache.
 */
export class TokenCache {
  private readonly entries = new Map<string, Entry>();
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly marginMs: number;
  private readonly jitter: number;
  private readonly retryBaseMs: number;
  private readonly retryCapMs: number;
  private readonly backgroundTimeoutMs: number;
  private readonly onEvent: (event: TokenCacheEvent) => void;

  constructor(options: TokenCacheOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.marginMs = options.expiryMarginMs ?? 5000;
    this.jitter = options.refreshJitter ?? 0.1;
    this.retryBaseMs = options.retryBaseMs ?? 1000;
    this.retryCapMs = options.retryCapMs ?? 30_000;
    this.backgroundTimeoutMs = options.backgroundTimeoutMs ?? 10_000;
    this.onEvent = options.onEvent ?? (() => undefined);
  }

  /** Returns a valid token for `key`, fetching one only when needed. */
  async get(key: string, fetch: FetchToken, options: { deadline: number; signal?: AbortSignal }): Promise<AccessToken> {
    if (options.signal?.aborted === true) throw new TokenRequestAbortedError(options.signal.reason);
    const entry = this.entry(key);
    const now = this.clock.now();
    const token = entry.token;
    if (token !== undefined && now < token.expiresOn - this.marginMs) {
      if (now >= token.refreshAfter && now >= entry.retryAt && entry.inflight === undefined) {
        this.start(key, entry, fetch, Date.now() + this.backgroundTimeoutMs, true).catch(() => undefined);
      }
      return token;
    }
    const pending = entry.inflight ?? this.start(key, entry, fetch, options.deadline, false);
    return options.signal === undefined ? pending : abortable(pending, options.signal);
  }

  /** The cached token for `key`, valid or not, without fetching. */
  peek(key: string): AccessToken | undefined {
    return this.entries.get(key)?.token;
  }

  /** Forgets every token. */
  clear(): void {
    this.entries.clear();
  }

  private entry(key: string): Entry {
    let entry = this.entries.get(key);
    if (entry === undefined) {
      entry = { failures: 0, retryAt: 0 };
      this.entries.set(key, entry);
    }
    return entry;
  }

  private start(key: string, entry: Entry, fetch: FetchToken, deadline: number, background: boolean): Promise<AccessToken> {
    this.onEvent({ type: 'fetch-started', key, background });
    const run = async (): Promise<AccessToken> => {
      // Yield first so `inflight` is set before anything below can clear it.
      await Promise.resolve();
      try {
        const fetched = await fetch(deadline);
        const token = { ...fetched, refreshAfter: this.jittered(fetched) };
        entry.token = token;
        entry.failures = 0;
        entry.retryAt = 0;
        this.onEvent({ type: 'fetched', key, background, faultDomain: token.faultDomain, expiresOn: token.expiresOn, refreshAfter: token.refreshAfter });
        return token;
      } catch (error) {
        entry.failures += 1;
        const ceiling = Math.min(this.retryCapMs, this.retryBaseMs * 2 ** Math.min(entry.failures - 1, 20));
        // Half fixed, half jitter: never hammer the mesh, never wait much longer than the ceiling.
        entry.retryAt = this.clock.now() + Math.floor(ceiling / 2 + this.random() * (ceiling / 2));
        this.onEvent({ type: 'fetch-failed', key, background, error, retryAt: entry.retryAt, failures: entry.failures });
        throw error;
      } finally {
        entry.inflight = undefined;
      }
    };
    const pending = run();
    entry.inflight = pending;
    return pending;
  }

  private jittered(token: AccessToken): number {
    const window = Math.max(0, token.expiresOn - this.marginMs - token.refreshAfter);
    return token.refreshAfter + Math.floor(this.random() * this.jitter * window);
  }
}

/** Waits for `pending` unless `signal` aborts first; the pending request itself carries on. */
function abortable<T>(pending: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new TokenRequestAbortedError(signal.reason));
    signal.addEventListener('abort', onAbort, { once: true });
    pending.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
