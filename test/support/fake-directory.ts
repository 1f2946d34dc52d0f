import { status } from '@grpc/grpc-js';
import {
  CredentialKind,
  type GetSnapshotRequest,
  type GetSnapshotResponse,
  type Identity,
  type LookupIdentityRequest,
  type LookupIdentityResponse,
  type RegisterSigningKeyRequest,
  type RegisterSigningKeyResponse,
  type ReportUsageRequest,
  type SigningKey,
  type Tenant,
  type WatchResponse,
} from '../../gen/authmesh/directory/v1/directory.js';
import { DirectoryCallError, type DirectorySource } from '../../services/regional/directory-client.js';

/** Builds an identity with one role on `https://api.test` unless overridden. */
export function makeIdentity(tenantId: string, clientId: string, overrides: Partial<Identity> = {}): Identity {
  return {
    tenantId,
    clientId,
    objectId: `obj-${clientId}`,
    name: clientId,
    enabled: true,
    credentials: [{ keyId: 'k1', kind: CredentialKind.CREDENTIAL_KIND_SECRET, publicJwkJson: '', secretHash: 'x', notBefore: 0, notAfter: 0, x5tS256: '' }],
    grants: [{ resource: 'https://api.test', role: 'reader' }],
    postureChangedAtMs: 0,
    lastAuthenticatedAtMs: 0,
    ...overrides,
  };
}

export function makeTenant(tenantId: string, overrides: Partial<Tenant> = {}): Tenant {
  return { tenantId, name: tenantId, resources: [{ identifier: 'https://api.test', roles: ['reader', 'writer'] }], ...overrides };
}

const key = (tenantId: string, clientId: string): string => `${tenantId}/${clientId}`;

interface Watcher {
  onMessage: (m: WatchResponse) => void;
  end: (err?: DirectoryCallError) => void;
}

/**
 * An in-memory global for tests: a directory with a change log, a watch that replays the log and
 * then streams live changes, and switches to make it unreachable, compact its log, cut streams
 * or hold lookups until released.
 */
export class FakeDirectory implements DirectorySource {
  revision = 0;
  readonly tenants = new Map<string, Tenant>();
  readonly identities = new Map<string, Identity>();
  keys: SigningKey[] = [];
  /** Every change since the last compaction, in order. */
  changes: WatchResponse[] = [];
  /** Watches from a revision below this fail with OUT_OF_RANGE. */
  compactedThrough = 0;
  /** When false every call fails with UNAVAILABLE. */
  reachable = true;
  readonly calls = {
    getSnapshot: 0,
    lookupIdentity: 0,
    registerSigningKey: [] as RegisterSigningKeyRequest[],
    reportUsage: [] as ReportUsageRequest[],
    /** from_revision of every watch. */
    watch: [] as number[],
  };
  private readonly watchers = new Set<Watcher>();
  private held: Array<() => void> | undefined;

  get liveWatches(): number {
    return this.watchers.size;
  }

  /** Holds every lookup until {@link releaseLookups}. */
  holdLookups(): void {
    this.held ??= [];
  }

  releaseLookups(): void {
    const held = this.held ?? [];
    this.held = undefined;
    for (const release of held) release();
  }

  putTenant(tenant: Tenant): number {
    this.tenants.set(tenant.tenantId, tenant);
    return this.record({ tenant });
  }

  putIdentity(identity: Identity): number {
    this.identities.set(key(identity.tenantId, identity.clientId), identity);
    return this.record({ identity });
  }

  removeIdentity(tenantId: string, clientId: string): number {
    this.identities.delete(key(tenantId, clientId));
    return this.record({ identityRemoved: { tenantId, clientId } });
  }

  setKeys(keys: SigningKey[]): number {
    this.keys = keys;
    return this.record({ signingKeys: { keys } });
  }

  /** Sends a heartbeat with the head revision to every live watch. */
  heartbeat(): void {
    for (const w of this.watchers) w.onMessage({ revision: 0, headRevision: this.revision });
  }

  /** Ends every live watch with `code` (UNAVAILABLE: a dropped connection). */
  disconnect(code: status = status.UNAVAILABLE): void {
    for (const w of [...this.watchers]) w.end(new DirectoryCallError(code, 'connection dropped'));
  }

  /** Drops the change log up to the current revision. */
  compact(): void {
    this.compactedThrough = this.revision;
    this.changes = [];
  }

  async getSnapshot(_request: GetSnapshotRequest): Promise<GetSnapshotResponse> {
    this.calls.getSnapshot += 1;
    this.check();
    return { revision: this.revision, tenants: [...this.tenants.values()], identities: [...this.identities.values()], signingKeys: this.keys };
  }

  async lookupIdentity(request: LookupIdentityRequest): Promise<LookupIdentityResponse> {
    this.calls.lookupIdentity += 1;
    if (this.held !== undefined) await new Promise<void>((resolve) => this.held!.push(resolve));
    this.check();
    return {
      revision: this.revision,
      tenant: this.tenants.get(request.tenantId),
      identity: this.identities.get(key(request.tenantId, request.clientId)),
    };
  }

  watch(fromRevision: number, onMessage: (m: WatchResponse) => void, signal: AbortSignal): Promise<void> {
    this.calls.watch.push(fromRevision);
    return new Promise<void>((resolve, reject) => {
      if (!this.reachable) return reject(new DirectoryCallError(status.UNAVAILABLE, 'global unreachable'));
      if (fromRevision < this.compactedThrough) return reject(new DirectoryCallError(status.OUT_OF_RANGE, `compacted through ${this.compactedThrough}`));
      const watcher: Watcher = {
        onMessage,
        end: (err) => {
          this.watchers.delete(watcher);
          signal.removeEventListener('abort', onAbort);
          if (err === undefined) resolve();
          else reject(err);
        },
      };
      const onAbort = (): void => watcher.end(new DirectoryCallError(status.CANCELLED, 'cancelled'));
      signal.addEventListener('abort', onAbort, { once: true });
      for (const change of this.changes) if (change.revision > fromRevision) onMessage({ ...change, headRevision: this.revision });
      this.watchers.add(watcher);
    });
  }

  async registerSigningKey(request: RegisterSigningKeyRequest): Promise<RegisterSigningKeyResponse> {
    this.calls.registerSigningKey.push(request);
    this.check();
    const kid = (JSON.parse(request.publicJwkJson) as { kid?: string }).kid ?? `kid-${this.keys.length}`;
    const revision = this.setKeys([...this.keys, { kid, domain: request.domain, publicJwkJson: request.publicJwkJson, createdAtMs: 0, retiredAtMs: 0 }]);
    return { kid, revision };
  }

  async reportUsage(request: ReportUsageRequest): Promise<void> {
    this.check();
    this.calls.reportUsage.push(request);
  }

  private check(): void {
    if (!this.reachable) throw new DirectoryCallError(status.UNAVAILABLE, 'global unreachable');
  }

  private record(change: Omit<WatchResponse, 'revision' | 'headRevision'>): number {
    this.revision += 1;
    const message: WatchResponse = { revision: this.revision, headRevision: this.revision, ...change };
    this.changes.push(message);
    for (const w of this.watchers) w.onMessage(message);
    return this.revision;
  }
}
