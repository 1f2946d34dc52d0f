import type { Identity } from '../../gen/authmesh/directory/v1/directory.js';

/** One cached answer about one client: the identity, or a negative answer (unknown client). */
export interface CacheEntry {
  tenantId: string;
  clientId: string;
  /** Undefined for a negative answer: global said the client (or its tenant) does not exist. */
  identity: Identity | undefined;
  /** Directory revision the entry reflects; an older answer never replaces a newer one. */
  revision: number;
  /** When global last confirmed this entry (fill, refresh or a change from the watch). */
  validatedAtMs: number;
  /** For negative entries: when the answer stops being trusted and the next lookup refills. */
  expiresAtMs?: number;
}

/** The cache key of a client: tenant and client id, separated by a character neither may contain. */
export const cacheKey = (tenantId: string, clientId: string): string => `${tenantId}\n${clientId}`;

/**
 * A bounded map of identities with least-recently-used eviction. A Map keeps insertion order,
 * so re-inserting on every read makes its first key the least recently used one.
 */
export class IdentityCache {
  private readonly entries = new Map<string, CacheEntry>();
  private evictedCount = 0;

  /**
   * @param capacity most entries held; the least recently used entry is evicted past it.
   * @param onEvict called with every entry evicted for capacity (not for explicit deletes).
   */
  constructor(
    readonly capacity: number,
    private readonly onEvict: (entry: CacheEntry) => void = () => undefined,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`cache capacity must be a positive integer, got ${capacity}`);
  }

  get size(): number {
    return this.entries.size;
  }

  /** Entries evicted for capacity since start. */
  get evictions(): number {
    return this.evictedCount;
  }

  /** Returns the entry and marks it most recently used. */
  get(key: string): CacheEntry | undefined {
    const entry = this.entries.get(key);
    if (entry !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, entry);
    }
    return entry;
  }

  /** Returns the entry without touching its recency (for sync and refresh). */
  peek(key: string): CacheEntry | undefined {
    return this.entries.get(key);
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  /** Inserts or replaces an entry as most recently used, evicting the least recently used ones past capacity. */
  set(key: string, entry: CacheEntry): void {
    this.entries.delete(key);
    this.entries.set(key, entry);
    while (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next();
      if (oldest.done === true) break;
      const evicted = this.entries.get(oldest.value)!;
      this.entries.delete(oldest.value);
      this.evictedCount += 1;
      this.onEvict(evicted);
    }
  }

  /** Replaces an entry in place, keeping its recency (a change from the watch is not a use). */
  replace(key: string, entry: CacheEntry): void {
    if (this.entries.has(key)) this.entries.set(key, entry);
    else this.set(key, entry);
  }

  delete(key: string): boolean {
    return this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
  }

  /** Every entry, least recently used first. */
  values(): IterableIterator<CacheEntry> {
    return this.entries.values();
  }
}
