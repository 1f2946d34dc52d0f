import type {
  GetSnapshotResponse,
  Identity,
  LookupIdentityResponse,
  SigningKey,
  Tenant,
  WatchResponse,
} from '../../gen/authmesh/directory/v1/directory.js';
import type { Clock } from '../../lib/clock/index.js';
import { cacheKey, IdentityCache, type CacheEntry } from './identity-cache.js';
import { NegativeCache } from './negative-cache.js';

export interface DirectoryCacheOptions {
  /** Most identities held in memory (LRU beyond that). */
  capacity: number;
  clock: Clock;
  /** How long a negative answer (unknown client or tenant) is trusted, in ms. Default 5000. */
  negativeTtlMs?: number;
  /** Most negative answers held, apart from the identities (oldest out first). Default 10000. */
  negativeCapacity?: number;
}

/** A cache read: the tenant and the entry for one client. */
export interface CacheRead {
  tenant: Tenant | undefined;
  entry: CacheEntry;
  /** How old the data may be: time since global last confirmed it, directly or through the watch. */
  dataAgeMs: number;
}

/** What applying one watch message did. */
export type ChangeOutcome = 'applied' | 'not-cached' | 'older' | 'heartbeat';

/**
 * The regional copy of the directory: every tenant and signing key, a bounded LRU of the
 * identities this region uses, and a separate small bounded cache of "no such client" answers (so
 * unknown client ids never evict real identities). Every write carries the directory revision it reflects, and an
 * older answer never replaces a newer one, so a slow miss fill cannot undo a disable that the
 * watch already applied.
 */
export class DirectoryCache {
  readonly identities: IdentityCache;
  /** Unknown and removed clients, kept apart from {@link identities}. */
  readonly negatives: NegativeCache;
  private readonly tenants = new Map<string, { tenant: Tenant; revision: number }>();
  private keys: SigningKey[] = [];
  private keysRevision = 0;
  /** Revision of the last snapshot: identity answers older than it are not cached (they may predate changes it contains). */
  private snapshotRevision = 0;
  /** Keys with a miss fill in flight: watch changes for them are kept even though not cached yet. */
  private readonly filling = new Map<string, number>();
  private readonly clock: Clock;
  private readonly negativeTtlMs: number;
  /** Highest revision applied from a snapshot or the watch. */
  revision = 0;
  /** Newest revision global reported. */
  headRevision = 0;
  /** Last time the watch confirmed this cache was at global's head revision. */
  syncedAtMs = 0;
  /** True once a snapshot has been loaded. */
  loaded = false;

  constructor(options: DirectoryCacheOptions) {
    this.identities = new IdentityCache(options.capacity);
    this.negatives = new NegativeCache(options.negativeCapacity ?? 10_000, (key) => this.filling.has(key));
    this.clock = options.clock;
    this.negativeTtlMs = options.negativeTtlMs ?? 5000;
  }

  /** Entries held now (identities and negative answers). */
  get size(): number {
    return this.identities.size + this.negatives.size;
  }

  /** Revisions global has that this cache has not applied yet. */
  get lag(): number {
    return Math.max(0, this.headRevision - this.revision);
  }

  signingKeys(): readonly SigningKey[] {
    return this.keys;
  }

  tenant(tenantId: string): Tenant | undefined {
    return this.tenants.get(tenantId)?.tenant;
  }

  /** Age of an entry's data: since the later of its own validation and the watch's last sync. */
  ageOf(entry: CacheEntry): number {
    return this.ageAt(entry.validatedAtMs, this.clock.now());
  }

  private ageAt(validatedAtMs: number, now: number): number {
    return Math.max(0, now - Math.max(validatedAtMs, this.syncedAtMs));
  }

  /** Reads one client, marking it recently used; undefined on a miss or an expired negative entry. */
  read(tenantId: string, clientId: string): CacheRead | undefined {
    const now = this.clock.now();
    // The slot holds the flags and times the answer needs, so the entry object itself is not read here.
    const slot = this.identities.lookup(tenantId, clientId, now);
    if (slot < 0) {
      const negative = this.negatives.get(cacheKey(tenantId, clientId), now);
      return negative === undefined ? undefined : { tenant: this.tenant(tenantId), entry: negative, dataAgeMs: this.ageAt(negative.validatedAtMs, now) };
    }
    return { tenant: this.tenant(tenantId), entry: this.identities.entryAt(slot), dataAgeMs: this.ageAt(this.identities.validatedAtMsAt(slot), now) };
  }

  /** Marks a miss fill as started; watch changes for the key are kept from now on. */
  beginFill(key: string): void {
    this.filling.set(key, (this.filling.get(key) ?? 0) + 1);
  }

  endFill(key: string): void {
    const n = (this.filling.get(key) ?? 1) - 1;
    if (n <= 0) this.filling.delete(key);
    else this.filling.set(key, n);
  }

  /** Replaces everything with a snapshot. Identities it does not contain are dropped: they may have missed changes. */
  applySnapshot(snapshot: GetSnapshotResponse): void {
    const now = this.clock.now();
    this.tenants.clear();
    for (const tenant of snapshot.tenants) this.tenants.set(tenant.tenantId, { tenant, revision: snapshot.revision });
    this.keys = snapshot.signingKeys;
    this.keysRevision = snapshot.revision;
    this.identities.clear();
    this.negatives.clear();
    for (const identity of snapshot.identities) {
      this.identities.set({
        tenantId: identity.tenantId,
        clientId: identity.clientId,
        identity,
        revision: snapshot.revision,
        validatedAtMs: now,
      });
    }
    this.revision = snapshot.revision;
    this.snapshotRevision = snapshot.revision;
    this.headRevision = Math.max(this.headRevision, snapshot.revision);
    this.syncedAtMs = now;
    this.loaded = true;
  }

  /** Stores the answer to a lookup (miss fill or refresh) unless the cache already holds newer data. */
  applyLookup(tenantId: string, clientId: string, answer: LookupIdentityResponse): void {
    if (answer.tenant !== undefined) this.putTenant(answer.tenant, answer.revision);
    const current = this.current(tenantId, clientId);
    if (current !== undefined && current.revision > answer.revision) return;
    if (current === undefined && answer.revision < this.snapshotRevision) return;
    const now = this.clock.now();
    if (answer.identity === undefined) this.putNegative({ tenantId, clientId, identity: undefined, revision: answer.revision, validatedAtMs: now, expiresAtMs: now + this.negativeTtlMs });
    else this.putIdentity({ tenantId, clientId, identity: answer.identity, revision: answer.revision, validatedAtMs: now });
  }

  /** Whatever is held for a client, identity or negative answer (expired ones included). */
  private current(tenantId: string, clientId: string): CacheEntry | undefined {
    return this.identities.peek(tenantId, clientId) ?? this.negatives.peek(cacheKey(tenantId, clientId));
  }

  private putIdentity(entry: CacheEntry): void {
    this.negatives.delete(cacheKey(entry.tenantId, entry.clientId));
    if (this.identities.peek(entry.tenantId, entry.clientId) === undefined) this.identities.set(entry);
    else this.identities.replace(entry);
  }

  private putNegative(entry: CacheEntry): void {
    this.identities.delete(entry.tenantId, entry.clientId);
    this.negatives.set(cacheKey(entry.tenantId, entry.clientId), entry);
  }

  /**
   * Applies one watch message. Changes carry the current state of what changed, so applying one
   * twice is harmless; identities neither cached nor being filled are not kept.
   */
  applyChange(message: WatchResponse): ChangeOutcome {
    this.headRevision = Math.max(this.headRevision, message.headRevision, message.revision);
    if (message.identity !== undefined) return this.applyIdentity(message.identity, message.revision);
    if (message.identityRemoved !== undefined) {
      const { tenantId, clientId } = message.identityRemoved;
      return this.applyRemoval(tenantId, clientId, message.revision);
    }
    if (message.tenant !== undefined) {
      this.bump(message.revision);
      return this.putTenant(message.tenant, message.revision) ? 'applied' : 'older';
    }
    if (message.signingKeys !== undefined) {
      this.bump(message.revision);
      if (message.revision < this.keysRevision) return 'older';
      this.keys = message.signingKeys.keys;
      this.keysRevision = message.revision;
      return 'applied';
    }
    return 'heartbeat';
  }

  /** Records that the watch has delivered everything up to global's head. */
  markSynced(): void {
    if (this.revision >= this.headRevision) this.syncedAtMs = this.clock.now();
  }

  private applyIdentity(identity: Identity, revision: number): ChangeOutcome {
    this.bump(revision);
    const current = this.current(identity.tenantId, identity.clientId);
    if (current === undefined && !this.filling.has(cacheKey(identity.tenantId, identity.clientId))) return 'not-cached';
    if (current !== undefined && current.revision > revision) return 'older';
    this.putIdentity({ tenantId: identity.tenantId, clientId: identity.clientId, identity, revision, validatedAtMs: this.clock.now() });
    return 'applied';
  }

  private applyRemoval(tenantId: string, clientId: string, revision: number): ChangeOutcome {
    this.bump(revision);
    const current = this.current(tenantId, clientId);
    if (current === undefined && !this.filling.has(cacheKey(tenantId, clientId))) return 'not-cached';
    if (current !== undefined && current.revision > revision) return 'older';
    const now = this.clock.now();
    // A negative entry, not a delete: a fill answered before the removal must not bring it back.
    this.putNegative({ tenantId, clientId, identity: undefined, revision, validatedAtMs: now, expiresAtMs: now + this.negativeTtlMs });
    return 'applied';
  }

  private putTenant(tenant: Tenant, revision: number): boolean {
    const current = this.tenants.get(tenant.tenantId);
    if (current !== undefined && current.revision > revision) return false;
    this.tenants.set(tenant.tenantId, { tenant, revision });
    return true;
  }

  private bump(revision: number): void {
    if (revision > this.revision) this.revision = revision;
  }
}
