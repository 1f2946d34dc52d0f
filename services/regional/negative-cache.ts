import type { CacheEntry } from './identity-cache.js';

/**
 * Answers "no such client" for a while, in a bounded map of its own, so that unknown client ids
 * (a flood of random ones included) can never push real identities out of the identity cache.
 * Oldest first out; an entry a fill is waiting on is never the one evicted (it guards that fill
 * against an older answer), so the map may exceed its capacity by the fills in flight.
 */
export class NegativeCache {
  private readonly entries = new Map<string, CacheEntry>();

  /**
   * @param capacity most entries kept (beyond the pinned ones).
   * @param pinned keys that must not be evicted now (fills in flight).
   */
  constructor(
    readonly capacity: number,
    private readonly pinned: (key: string) => boolean,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** The entry while its TTL lasts. */
  get(key: string, nowMs: number): CacheEntry | undefined {
    const entry = this.entries.get(key);
    return entry !== undefined && (entry.expiresAtMs ?? 0) > nowMs ? entry : undefined;
  }

  /** The entry whatever its age: its revision still says what an older answer must not undo. */
  peek(key: string): CacheEntry | undefined {
    return this.entries.get(key);
  }

  set(key: string, entry: CacheEntry): void {
    this.entries.delete(key);
    this.entries.set(key, entry);
    if (this.entries.size <= this.capacity) return;
    for (const oldest of this.entries.keys()) {
      if (oldest === key || this.pinned(oldest)) continue;
      this.entries.delete(oldest);
      return;
    }
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
  }
}
