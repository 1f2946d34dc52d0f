import type { Identity } from '../../gen/authmesh/directory/v1/directory.js';
import { INLINE_WORDS, KeyHasher } from './identity-key.js';

/**
 * One cached answer about one client: the identity, or a negative answer (unknown client). An
 * entry is never changed once stored: a newer answer replaces it.
 */
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

// A slot is 16 int32s (64 bytes, one cache line) of one typed array: everything a lookup reads sits
// together, so a hit in a large table costs one memory miss instead of one per object. The links
// of the age queue, which a lookup never reads, are in a second typed array (LINKS int32s a slot).
const STRIDE = 16;
const VALIDATED = 0; // float64 index within the slot (int32s 0-1)
const EXPIRES = 1; // float64 index within the slot (int32s 2-3)
const HASH = 4; // 0: the slot is empty
const TENANT = 5; // tenant number (see tenantRefs)
const META = 6; // the flags (low FLAG_BITS bits), then the client id length, or LONG
const KEY = 7; // INLINE_WORDS words of the packed client id, to the slot's end
const FLAG_BITS = 2;
const USED = 1;
const NEGATIVE = 2;
/** The length in META of a client id compared as a string (too long or too wide to be held inline). */
const LONG = -1;
const LINKS = 2;
const OLDER = 0; // in links: slot of the next older entry, -1 for the oldest
const YOUNGER = 1; // in links: slot of the next younger entry, -1 for the youngest
const MIN_SLOTS = 16;
/**
 * Where the slots start in their buffer, in bytes. Node allocates a large ArrayBuffer with calloc,
 * which glibc serves by mmap and returns 16 bytes past a page boundary: 48 more bytes start the
 * slots on a 64-byte boundary, so no slot straddles two cache lines. An assumption about the
 * allocator that only affects speed: were it wrong, slots would straddle lines as without it.
 */
const SLOTS_OFFSET = 48;

// The slot must be one cache line, and the packed key must fill it to the end.
if (STRIDE * 4 !== 64 || KEY + INLINE_WORDS !== STRIDE) throw new Error('identity cache slot layout does not fit 64 bytes');

/** A tenant id's number in the table, held while any entry of the tenant is. */
interface TenantRef {
  no: number;
  entries: number;
}

/**
 * A bounded map of identities keyed by tenant and client id, with second-chance ("clock")
 * eviction, an approximation of least recently used. A read only sets a flag. When past capacity,
 * the oldest entry is evicted unless it was read since it was queued; then it moves to the young
 * end instead.
 *
 * The table is open addressing with linear probing over one typed array of 64-byte slots (one cache
 * line each) holding the key's hash, the client id itself (when up to 36 one-byte characters, a
 * UUID), a tenant number, and the flags and times {@link DirectoryCache.read} needs; a parallel
 * typed array holds the links of the age queue and a parallel array the entries. A hit compares the
 * whole key. Deletes shift the following slots back (no tombstones), so the table never needs a
 * rebuild in place; it doubles while filling.
 */
export class IdentityCache {
  // The table's arrays, all sized to `slots` by resize().
  private slots!: number;
  private ints!: Int32Array;
  /** The same slots as float64s: {@link VALIDATED} and {@link EXPIRES} at `(slot * STRIDE >> 1)`. */
  private times!: Float64Array;
  private links!: Int32Array;
  private entries!: (CacheEntry | undefined)[];
  private count = 0;
  /**
   * The entry in the last key's home slot, loaded before the probe reads the slot. JavaScript has
   * no prefetch: this load lets the entry array's memory miss overlap the slot's in a large table,
   * so a hit waits for memory once instead of twice. Written only; public so it is not optimised away.
   */
  readAhead: CacheEntry | undefined = undefined;
  private oldest = -1;
  private youngest = -1;
  private evictedCount = 0;
  private readonly hasher: KeyHasher;
  private readonly tenantRefs = new Map<string, TenantRef>();
  private readonly freeTenantNos: number[] = [];

  /**
   * @param capacity most entries held; the least recently used entry is evicted past it.
   * @param onEvict called with every entry evicted for capacity (not for explicit deletes).
   * @param hasher the key hash; a random key unless given (tests).
   */
  constructor(
    readonly capacity: number,
    private readonly onEvict: (entry: CacheEntry) => void = () => undefined,
    hasher?: KeyHasher,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`cache capacity must be a positive integer, got ${capacity}`);
    this.hasher = hasher ?? new KeyHasher();
    this.resize(MIN_SLOTS);
  }

  get size(): number {
    return this.count;
  }

  /** Entries evicted for capacity since start. */
  get evictions(): number {
    return this.evictedCount;
  }

  /** Slots in the table now (for tests: it doubles while filling and never shrinks but on clear). */
  get tableSize(): number {
    return this.slots;
  }

  /** Returns the entry and marks it used, so eviction passes it over once. */
  get(tenantId: string, clientId: string): CacheEntry | undefined {
    const slot = this.lookup(tenantId, clientId, -Infinity);
    return slot < 0 ? undefined : this.entries[slot];
  }

  /**
   * The lookup path: finds a key, marks it used and returns its slot, or -1 when absent or a
   * negative answer that expired by `nowMs`. The slot is valid until the next write.
   */
  lookup(tenantId: string, clientId: string, nowMs: number): number {
    const slot = this.find(tenantId, clientId);
    if (slot < 0) return -1;
    const o = slot * STRIDE;
    const meta = (this.ints[o + META]! |= USED);
    if ((meta & NEGATIVE) !== 0 && this.times[(o >> 1) + EXPIRES]! <= nowMs) return -1;
    return slot;
  }

  /** The entry in a slot {@link lookup} returned. */
  entryAt(slot: number): CacheEntry {
    return this.entries[slot]!;
  }

  /** The entry's `validatedAtMs`, from the slot {@link lookup} returned (no read of the entry). */
  validatedAtMsAt(slot: number): number {
    return this.times[((slot * STRIDE) >> 1) + VALIDATED]!;
  }

  /** Returns the entry without touching its recency (for sync and refresh). */
  peek(tenantId: string, clientId: string): CacheEntry | undefined {
    const slot = this.find(tenantId, clientId);
    return slot < 0 ? undefined : this.entries[slot];
  }

  has(tenantId: string, clientId: string): boolean {
    return this.find(tenantId, clientId) >= 0;
  }

  /** Inserts or replaces an entry as the youngest, evicting past capacity. */
  set(entry: CacheEntry): void {
    const current = this.find(entry.tenantId, entry.clientId);
    if (current >= 0) this.remove(current);
    this.insert(entry);
    // Bounded: each pass either evicts or clears a flag, so at most 2 × size steps.
    while (this.count > this.capacity) {
      const slot = this.oldest;
      const o = slot * STRIDE;
      const evicted = this.entries[slot]!;
      if ((this.ints[o + META]! & USED) !== 0 && evicted !== entry) {
        this.ints[o + META]! &= ~USED;
        this.unlink(slot);
        this.linkYoungest(slot);
        continue;
      }
      this.remove(slot);
      this.evictedCount += 1;
      this.onEvict(evicted);
    }
  }

  /** Replaces an entry in place, keeping its recency (a change from the watch is not a use). */
  replace(entry: CacheEntry): void {
    const slot = this.find(entry.tenantId, entry.clientId);
    if (slot < 0) {
      this.set(entry);
      return;
    }
    this.entries[slot] = entry;
    this.writeFields(slot * STRIDE, entry, this.ints[slot * STRIDE + META]! & USED);
  }

  delete(tenantId: string, clientId: string): boolean {
    const slot = this.find(tenantId, clientId);
    if (slot < 0) return false;
    this.remove(slot);
    return true;
  }

  clear(): void {
    this.count = 0;
    this.resize(MIN_SLOTS);
    this.tenantRefs.clear();
    this.freeTenantNos.length = 0;
  }

  /** Every entry, roughly least recently used first. Do not write to the cache while iterating. */
  *values(): IterableIterator<CacheEntry> {
    for (let slot = this.oldest; slot >= 0; slot = this.links[slot * LINKS + YOUNGER]!) yield this.entries[slot]!;
  }

  private find(tenantId: string, clientId: string): number {
    const tenant = this.tenantRefs.get(tenantId);
    if (tenant === undefined) return -1;
    const hash = this.hasher.hash(tenant.no, clientId);
    const { ints, hasher } = this;
    const { words, wordCount } = hasher;
    const length = hasher.inline ? clientId.length : LONG;
    const mask = this.slots - 1;
    this.readAhead = this.entries[hash & mask];
    for (let slot = hash & mask; ; slot = (slot + 1) & mask) {
      const o = slot * STRIDE;
      const stored = ints[o + HASH]!;
      if (stored === 0) return -1;
      if (stored !== hash || ints[o + TENANT] !== tenant.no || ints[o + META]! >> FLAG_BITS !== length) continue;
      if (length === LONG) {
        if (this.entries[slot]!.clientId === clientId) return slot;
        continue;
      }
      let i = 0;
      while (i < wordCount && ints[o + KEY + i] === words[i + 1]) i += 1;
      if (i === wordCount) return slot;
    }
  }

  /** Adds a key known to be absent as the youngest entry. */
  private insert(entry: CacheEntry): void {
    if ((this.count + 1) * 4 > this.slots * 3) this.resize(this.slots * 2);
    let tenant = this.tenantRefs.get(entry.tenantId);
    if (tenant === undefined) {
      // Numbers in use and free numbers are 1..n, so with none free the next is the count in use + 1.
      tenant = { no: this.freeTenantNos.pop() ?? this.tenantRefs.size + 1, entries: 0 };
      this.tenantRefs.set(entry.tenantId, tenant);
    }
    tenant.entries += 1;
    const hash = this.hasher.hash(tenant.no, entry.clientId);
    const { ints, hasher } = this;
    const mask = this.slots - 1;
    let slot = hash & mask;
    while (ints[slot * STRIDE + HASH] !== 0) slot = (slot + 1) & mask;
    const o = slot * STRIDE;
    ints[o + HASH] = hash;
    ints[o + TENANT] = tenant.no;
    ints.fill(0, o + KEY, o + KEY + INLINE_WORDS);
    if (hasher.inline) ints.set(hasher.words.subarray(1, 1 + hasher.wordCount), o + KEY);
    this.entries[slot] = entry;
    this.writeFields(o, entry, 0, hasher.inline ? entry.clientId.length : LONG);
    this.linkYoungest(slot);
    this.count += 1;
  }

  /** Writes the flags and times of the slot at `o`; the length is kept unless given. */
  private writeFields(o: number, entry: CacheEntry, used: number, length = this.ints[o + META]! >> FLAG_BITS): void {
    this.ints[o + META] = (length << FLAG_BITS) | used | (entry.identity === undefined ? NEGATIVE : 0);
    this.times[(o >> 1) + VALIDATED] = entry.validatedAtMs;
    this.times[(o >> 1) + EXPIRES] = entry.expiresAtMs ?? 0;
  }

  /** Empties a slot, then shifts back the slots after it that would no longer be found. */
  private remove(slot: number): void {
    const { ints } = this;
    const entry = this.entries[slot]!;
    const tenant = this.tenantRefs.get(entry.tenantId)!;
    tenant.entries -= 1;
    if (tenant.entries === 0) {
      this.tenantRefs.delete(entry.tenantId);
      this.freeTenantNos.push(tenant.no);
    }
    this.unlink(slot);
    this.count -= 1;
    const mask = this.slots - 1;
    let hole = slot;
    for (let next = (hole + 1) & mask; ints[next * STRIDE + HASH] !== 0; next = (next + 1) & mask) {
      const home = ints[next * STRIDE + HASH]! & mask;
      // The entry at `next` may fill the hole unless its home lies cyclically in (hole, next].
      const stays = hole <= next ? home > hole && home <= next : home > hole || home <= next;
      if (stays) continue;
      this.move(next, hole);
      hole = next;
    }
    ints.fill(0, hole * STRIDE, hole * STRIDE + STRIDE);
    this.entries[hole] = undefined;
  }

  /** Moves a slot's content to an empty slot and points its queue neighbours at it. */
  private move(from: number, to: number): void {
    const { ints, links } = this;
    ints.copyWithin(to * STRIDE, from * STRIDE, from * STRIDE + STRIDE);
    const older = links[from * LINKS + OLDER]!;
    const younger = links[from * LINKS + YOUNGER]!;
    links[to * LINKS + OLDER] = older;
    links[to * LINKS + YOUNGER] = younger;
    this.entries[to] = this.entries[from];
    this.relink(older, younger, to, to);
  }

  private unlink(slot: number): void {
    const older = this.links[slot * LINKS + OLDER]!;
    const younger = this.links[slot * LINKS + YOUNGER]!;
    this.relink(older, younger, younger, older);
  }

  /** Points the queue neighbours `older` and `younger` (-1: none, the queue's end) at new slots. */
  private relink(older: number, younger: number, olderToward: number, youngerToward: number): void {
    if (older >= 0) this.links[older * LINKS + YOUNGER] = olderToward;
    else this.oldest = olderToward;
    if (younger >= 0) this.links[younger * LINKS + OLDER] = youngerToward;
    else this.youngest = youngerToward;
  }

  private linkYoungest(slot: number): void {
    const { links } = this;
    links[slot * LINKS + OLDER] = this.youngest;
    links[slot * LINKS + YOUNGER] = -1;
    if (this.youngest >= 0) links[this.youngest * LINKS + YOUNGER] = slot;
    else this.oldest = slot;
    this.youngest = slot;
  }

  /**
   * Rebuilds the table with `slots` slots, keeping the entries and their queue order. The slots
   * start {@link SLOTS_OFFSET} bytes into their buffer.
   */
  private resize(slots: number): void {
    const old = { ints: this.ints, links: this.links, entries: this.entries, oldest: this.oldest };
    const buffer = new ArrayBuffer(SLOTS_OFFSET + slots * STRIDE * 4);
    this.slots = slots;
    this.ints = new Int32Array(buffer, SLOTS_OFFSET, slots * STRIDE);
    this.times = new Float64Array(buffer, SLOTS_OFFSET, (slots * STRIDE) >> 1);
    this.links = new Int32Array(slots * LINKS);
    this.entries = new Array<CacheEntry | undefined>(slots).fill(undefined);
    this.oldest = -1;
    this.youngest = -1;
    if (this.count === 0) return;
    const mask = slots - 1;
    for (let from = old.oldest; from >= 0; from = old.links[from * LINKS + YOUNGER]!) {
      let slot = old.ints[from * STRIDE + HASH]! & mask;
      while (this.ints[slot * STRIDE + HASH] !== 0) slot = (slot + 1) & mask;
      this.ints.set(old.ints.subarray(from * STRIDE, from * STRIDE + STRIDE), slot * STRIDE);
      this.entries[slot] = old.entries[from];
      this.linkYoungest(slot);
    }
  }

}
