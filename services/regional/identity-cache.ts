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

/** A cached entry and whether it was read since it last reached the young end of the queue. */
interface Slot {
  entry: CacheEntry;
  used: boolean;
}

/**
 * A bounded map of identities with second-chance ("clock") eviction, an approximation of least
 * recently used. A read only sets a flag, so the hot path is one Map lookup and never reorders
 * the Map (deleting and re-inserting on every read leaves holes that make V8 rehash the whole
 * table now and then: a 100-ms stall at a million entries). When past capacity, the oldest entry
 * is evicted unless it was read since it was queued; then it moves to the young end instead.
 */
export class IdentityCache {
  private readonly entries = new Map<string, Slot>();
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

  /** Returns the entry and marks it used, so eviction passes it over once. */
  get(key: string): CacheEntry | undefined {
    const slot = this.entries.get(key);
    if (slot === undefined) return undefined;
    slot.used = true;
    return slot.entry;
  }

  /** Returns the entry without touching its recency (for sync and refresh). */
  peek(key: string): CacheEntry | undefined {
    return this.entries.get(key)?.entry;
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  /** Inserts or replaces an entry as the youngest, evicting past capacity. */
  set(key: string, entry: CacheEntry): void {
    this.entries.delete(key);
    this.entries.set(key, { entry, used: false });
    // Bounded: each pass either evicts or clears a flag, so at most 2 × size steps.
    while (this.entries.size > this.capacity) {
      const oldest = this.entries.entries().next();
      if (oldest.done === true) break;
      const [oldestKey, slot] = oldest.value;
      this.entries.delete(oldestKey);
      if (slot.used && oldestKey !== key) {
        slot.used = false;
        this.entries.set(oldestKey, slot);
        continue;
      }
      this.evictedCount += 1;
      this.onEvict(slot.entry);
    }
  }

  /** Replaces an entry in place, keeping its recency (a change from the watch is not a use). */
  replace(key: string, entry: CacheEntry): void {
    const slot = this.entries.get(key);
    if (slot !== undefined) slot.entry = entry;
    else this.set(key, entry);
  }

  delete(key: string): boolean {
    return this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
  }

  /** Every entry, roughly least recently used first. */
  *values(): IterableIterator<CacheEntry> {
    for (const slot of this.entries.values()) yield slot.entry;
  }
}
