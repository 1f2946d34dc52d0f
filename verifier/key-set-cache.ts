import { createLocalJWKSet, type JSONWebKeySet, type JWSHeaderParameters, type FlattenedJWSInput } from 'jose';
import { systemClock, type Clock } from '../lib/clock/index.js';
import { VerifierError } from './errors.js';
import type { JwksSource } from './jwks-source.js';

export interface KeySetCacheOptions {
  source: JwksSource;
  clock?: Clock;
  /** An unknown `kid` triggers a refetch at most once per this many ms. Default 30000. */
  refetchIntervalMs?: number;
  /** The set is refetched when older than this, in ms; a failed refetch keeps the old set. Default 600000. */
  maxAgeMs?: number;
  onEvent?: (event: KeySetEvent) => void;
}

export type KeySetEvent =
  | { type: 'fetched'; reason: 'initial' | 'unknown-kid' | 'max-age'; keys: number }
  | { type: 'fetch-failed'; reason: 'initial' | 'unknown-kid' | 'max-age'; error: unknown };

type LocalSet = ReturnType<typeof createLocalJWKSet>;
type Reason = 'initial' | 'unknown-kid' | 'max-age';

/**
 * The JWK Set a verifier checks signatures with. Fetched once, refetched when stale or when a
 * token names an unknown `kid` (at most once per interval, so forged kids cannot flood the
 * mesh), and kept when a refetch fails: a resource server keeps verifying through an outage.
 */
export class KeySetCache {
  private readonly source: JwksSource;
  private readonly clock: Clock;
  private readonly refetchIntervalMs: number;
  private readonly maxAgeMs: number;
  private readonly onEvent: (event: KeySetEvent) => void;
  private local: LocalSet | undefined;
  private fetchedAt = -Infinity;
  private attemptedAt = -Infinity;
  private inflight: Promise<void> | undefined;
  /** How many times the source was read; for tests and metrics. */
  fetches = 0;

  constructor(options: KeySetCacheOptions) {
    this.source = options.source;
    this.clock = options.clock ?? systemClock;
    this.refetchIntervalMs = options.refetchIntervalMs ?? 30_000;
    this.maxAgeMs = options.maxAgeMs ?? 600_000;
    this.onEvent = options.onEvent ?? (() => undefined);
  }

  /** Key lookup in the shape jose's jwtVerify takes. */
  readonly getKey = async (header: JWSHeaderParameters, token: FlattenedJWSInput): ReturnType<LocalSet> => {
    if (this.local === undefined) {
      // Without any set every request would try; a failed first fetch is retried at most once a second.
      if (this.clock.now() - this.attemptedAt < 1000) throw new VerifierError('ERR_JWKS_UNAVAILABLE', 'the key set could not be fetched');
      await this.refetch('initial');
    }
    else if (this.clock.now() - this.fetchedAt > this.maxAgeMs && this.clock.now() - this.attemptedAt >= this.refetchIntervalMs) await this.refetch('max-age');
    const local = this.local;
    if (local === undefined) throw new VerifierError('ERR_JWKS_UNAVAILABLE', 'the key set could not be fetched');
    try {
      return await local(header, token);
    } catch (err) {
      if ((err as { code?: string }).code !== 'ERR_JWKS_NO_MATCHING_KEY') throw err;
      if (this.clock.now() - this.attemptedAt < this.refetchIntervalMs) throw err;
      await this.refetch('unknown-kid');
      return this.local!(header, token);
    }
  };

  private refetch(reason: Reason): Promise<void> {
    this.inflight ??= (async () => {
      // Yield first so `inflight` is set before the finally below can clear it.
      await Promise.resolve();
      this.attemptedAt = this.clock.now();
      this.fetches += 1;
      try {
        const set: JSONWebKeySet = await this.source();
        this.local = createLocalJWKSet(set);
        this.fetchedAt = this.clock.now();
        this.onEvent({ type: 'fetched', reason, keys: set.keys.length });
      } catch (error) {
        this.onEvent({ type: 'fetch-failed', reason, error });
        if (this.local === undefined) throw new VerifierError('ERR_JWKS_UNAVAILABLE', 'the key set could not be fetched', { cause: error });
      } finally {
        this.inflight = undefined;
      }
    })();
    return this.inflight;
  }
}
