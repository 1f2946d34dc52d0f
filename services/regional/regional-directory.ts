import type { LookupIdentityResponse } from '../../gen/authmesh/directory/v1/directory.js';
import type { Clock } from '../../lib/clock/index.js';
import type { DirectoryView, LookupOptions, LookupResult } from '../../lib/directory/index.js';
import { unavailable } from '../../lib/errors/index.js';
import type { DirectoryCache } from './directory-cache.js';
import type { DirectorySource } from './directory-client.js';
import { cacheKey } from './identity-cache.js';

/** What a lookup did, for logs and metrics. */
export type LookupEvent =
  | { type: 'hit'; negative: boolean }
  | { type: 'fill'; ok: boolean; ms: number; error?: unknown }
  | { type: 'fill-wait-abandoned' };

export interface RegionalDirectoryOptions {
  cache: DirectoryCache;
  source: Pick<DirectorySource, 'lookupIdentity'>;
  region: string;
  clock: Clock;
  /** Longest a miss fill may take, in ms, whatever the callers' deadlines. Default 3000. */
  fillTimeoutMs?: number;
  onEvent?: (event: LookupEvent) => void;
}

/**
 * The directory as a region sees it. A hit answers from memory at once, with no call outside the
 * region, and so does an unknown tenant (the region holds every tenant). A miss is filled from global with one fetch per client however many callers wait; each
 * caller waits at most until its own deadline. A miss that global cannot fill is an OAuthError
 * `temporarily_unavailable` with reason `cache-miss-unfillable`, so the gateway moves on.
 */
export class RegionalDirectory implements DirectoryView {
  private readonly inflight = new Map<string, Promise<LookupIdentityResponse>>();
  private readonly fillTimeoutMs: number;

  constructor(private readonly options: RegionalDirectoryOptions) {
    this.fillTimeoutMs = options.fillTimeoutMs ?? 3000;
  }

  /** Fills in flight now (for tests and status). */
  get fillsInFlight(): number {
    return this.inflight.size;
  }

  async lookup(tenantId: string, clientId: string, options: LookupOptions = {}): Promise<LookupResult> {
    const { cache, onEvent } = this.options;
    const hit = cache.read(tenantId, clientId);
    if (hit !== undefined) {
      onEvent?.({ type: 'hit', negative: hit.entry.identity === undefined });
      return { tenant: hit.tenant, identity: hit.entry.identity, dataAgeMs: hit.dataAgeMs };
    }
    // The region holds every tenant (snapshot and change feed), so an unknown tenant is answered
    // here: no call to global and no cache entry for whatever client id came with it.
    if (cache.loaded && cache.tenant(tenantId) === undefined) {
      onEvent?.({ type: 'hit', negative: true });
      return { tenant: undefined, identity: undefined, dataAgeMs: Math.max(0, this.options.clock.now() - cache.syncedAtMs) };
    }
    const answer = await this.waitBounded(this.fill(tenantId, clientId), clientId, options);
    // The cache may hold something newer than the answer (a change the watch applied meanwhile).
    const after = cache.read(tenantId, clientId);
    if (after !== undefined) return { tenant: after.tenant, identity: after.entry.identity, dataAgeMs: after.dataAgeMs };
    return { tenant: answer.tenant, identity: answer.identity, dataAgeMs: 0 };
  }

  /** One fetch per client: callers arriving while it runs share it. */
  private fill(tenantId: string, clientId: string): Promise<LookupIdentityResponse> {
    const key = cacheKey(tenantId, clientId);
    const running = this.inflight.get(key);
    if (running !== undefined) return running;
    const { cache, source, clock, region, onEvent } = this.options;
    const started = clock.now();
    cache.beginFill(key);
    const fetch = source
      .lookupIdentity({ tenantId, clientId, region }, { deadline: Date.now() + this.fillTimeoutMs })
      .then(
        (answer) => {
          cache.applyLookup(tenantId, clientId, answer);
          onEvent?.({ type: 'fill', ok: true, ms: clock.now() - started });
          return answer;
        },
        (err: unknown) => {
          onEvent?.({ type: 'fill', ok: false, ms: clock.now() - started, error: err });
          throw unavailable(
            'cache-miss-unfillable',
            `client ${clientId} is not cached in region ${region} and global cannot be reached to fill it`,
            err,
          );
        },
      )
      .finally(() => {
        cache.endFill(key);
        this.inflight.delete(key);
      });
    this.inflight.set(key, fetch);
    return fetch;
  }

  /** Waits for a shared fill, but never past this caller's deadline or abort. */
  private waitBounded<T>(work: Promise<T>, clientId: string, options: LookupOptions): Promise<T> {
    const { deadline, signal } = options;
    if (deadline === undefined && signal === undefined) return work;
    const gaveUp = (): Error => {
      this.options.onEvent?.({ type: 'fill-wait-abandoned' });
      return unavailable('cache-miss-unfillable', `client ${clientId} is not cached in region ${this.options.region} and the fill did not finish within the deadline`);
    };
    if (signal?.aborted === true || (deadline !== undefined && deadline <= this.options.clock.now())) {
      work.catch(() => undefined);
      return Promise.reject(gaveUp());
    }
    return new Promise<T>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const cleanup = (): void => {
        if (timer !== undefined) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      const onAbort = (): void => {
        cleanup();
        reject(gaveUp());
      };
      if (deadline !== undefined) {
        // Give up a little before the deadline so the caller receives the UNAVAILABLE answer
        // (and its reason) instead of timing out on its own.
        const remaining = deadline - this.options.clock.now();
        timer = setTimeout(onAbort, Math.max(0, remaining - Math.min(100, remaining * 0.1))).unref();
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      work.then(
        (value) => {
          cleanup();
          resolve(value);
        },
        (err: unknown) => {
          cleanup();
          reject(err);
        },
      );
    });
  }
}
