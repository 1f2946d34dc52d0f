import type { Identity, SigningKey, Tenant } from '../../../lib/directory/index.js';

/** What a change-log entry points at; its current state is read when the change is sent. */
export type ChangeKind = 'identity' | 'identity_removed' | 'tenant' | 'signing_keys';

export interface ChangeEntry {
  revision: number;
  kind: ChangeKind;
  /** Set for identity and tenant changes. */
  tenantId: string;
  /** Set for identity changes. */
  clientId: string;
  committedAtMs: number;
}

/** A certificate credential as parsed from its PEM. */
export interface CertificateInput {
  keyId: string;
  publicJwkJson: string;
  x5tS256: string;
  notBefore: number;
  notAfter: number;
}

/** A secret credential: only the salted hash is ever stored. */
export interface SecretInput {
  keyId: string;
  secretHash: string;
  notBefore: number;
  notAfter: number;
}

/** Per-`jti` replay refusal of client assertions, off unless set. */
export interface ReuseOption {
  refuseAssertionReuse?: boolean;
}

/** A tenant as ListTenants shows it. */
export interface TenantSummary {
  tenantId: string;
  name: string;
  refuseAssertionReuse: boolean;
}

/** An application as ListApps shows it (no credentials). */
export interface AppSummary {
  clientId: string;
  objectId: string;
  name: string;
  enabled: boolean;
}

/** One identity seen in one region. */
export interface UsageRecord {
  tenantId: string;
  clientId: string;
  region: string;
  atMs: number;
  /** True for a successful authentication; false for a lookup that only shows interest. */
  authenticated: boolean;
}

export interface Snapshot {
  revision: number;
  tenants: Tenant[];
  identities: Identity[];
  signingKeys: SigningKey[];
}

/** A tenant and one of its identities read at one revision. */
export interface Lookup {
  revision: number;
  tenant: Tenant | undefined;
  identity: Identity | undefined;
}

export type CommitListener = (revision: number) => void;

/**
 * Global's durable directory, whatever engine keeps it (SQLite embedded, PostgreSQL shared by
 * several global instances). The contract every engine keeps:
 * - a mutation resolves only once it is durable, with the revision it was stamped with;
 *   revisions are strictly increasing and gap-free in commit order;
 * - a refusal rejects with a {@link DirectoryError} (not_found, already_exists);
 * - an unreachable store or a write whose outcome is unknown rejects with code `unavailable`,
 *   never resolves as if it had committed;
 * - `onCommit` listeners hear about commits made by any instance on the same store (at least
 *   once per commit or batch of commits; a listener re-reads from its cursor).
 */
export interface DirectoryStore {
  /** `sqlite` or `postgres`. */
  readonly engine: string;
  /** Where the store lives, without any password (for logs). */
  readonly location: string;
  close(): Promise<void>;
  onCommit(listener: CommitListener): () => void;

  // ---- mutations: each one transaction, one revision ----
  createTenant(name: string, options?: ReuseOption): Promise<{ tenantId: string; revision: number }>;
  createApp(tenantId: string, name: string, options?: ReuseOption): Promise<{ clientId: string; objectId: string; revision: number }>;
  setAppEnabled(tenantId: string, clientId: string, enabled: boolean): Promise<number>;
  /** Sets Identity.refuse_assertion_reuse. */
  setAppAssertionReuse(tenantId: string, clientId: string, refuse: boolean): Promise<number>;
  /** Sets Tenant.refuse_assertion_reuse. */
  setTenantAssertionReuse(tenantId: string, refuse: boolean): Promise<number>;
  addCertificateCredential(tenantId: string, clientId: string, cert: CertificateInput): Promise<number>;
  addSecretCredential(tenantId: string, clientId: string, secret: SecretInput): Promise<number>;
  removeCredential(tenantId: string, clientId: string, keyId: string): Promise<number>;
  createResource(tenantId: string, identifier: string, roles: readonly string[]): Promise<number>;
  grantRole(tenantId: string, clientId: string, resource: string, role: string): Promise<number>;
  revokeRole(tenantId: string, clientId: string, resource: string, role: string): Promise<number>;
  /** Removes an application with its credentials, grants and usage; the change log says `identity_removed`. */
  deleteApp(tenantId: string, clientId: string): Promise<number>;
  /** Removes a resource and its roles; failed_precondition while any application holds a role on it. */
  deleteResource(tenantId: string, identifier: string): Promise<number>;
  /**
   * Publishes a fault domain's public key. The same key again answers with the revision it was
   * first published at; a new key retires the domain's previous active keys.
   */
  registerSigningKey(kid: string, domain: string, publicJwkJson: string): Promise<{ revision: number; created: boolean }>;
  /** Drops change-log entries but the newest `retain`; returns the compaction point. */
  compactChangeLog(retain: number): Promise<number>;
  /** Records usage (not a mutation: no revision, no change-log entry). */
  recordUsage(records: readonly UsageRecord[]): Promise<void>;

  // ---- reads ----
  tenant(tenantId: string): Promise<Tenant | undefined>;
  identity(tenantId: string, clientId: string): Promise<Identity | undefined>;
  /** Head, tenant and identity in one read transaction, so they agree. */
  lookup(tenantId: string, clientId: string): Promise<Lookup>;
  signingKeys(): Promise<SigningKey[]>;
  listTenants(): Promise<TenantSummary[]>;
  /** Every application of a tenant, by creation; not_found for an unknown tenant. */
  listApps(tenantId: string): Promise<AppSummary[]>;
  /** The newest revision handed out (0 before the first mutation). */
  head(): Promise<number>;
  /** Entries up to and including this revision are gone; a watch must start after it. */
  compactedThrough(): Promise<number>;
  /** Entries with a revision greater than `revision`, oldest first, at most `limit`. */
  changesAfter(revision: number, limit: number): Promise<ChangeEntry[]>;
  /**
   * A consistent view at one revision: every tenant and signing key, and the identities most
   * recently used in `region` (every identity when there are no more than `maxIdentities`).
   */
  snapshot(region: string, maxIdentities: number): Promise<Snapshot>;
  /** Every tenant, identity and signing key at one revision, for the backup export. */
  exportState(): Promise<Snapshot>;

  // ---- work done once ----
  /**
   * Claims (or renews) the lease `name` for `holder` for `ttlMs` on the store's clock. True when
   * `holder` holds it now. Several instances on one store: at most one holds a lease at a time.
   */
  claimLease(name: string, holder: string, ttlMs: number): Promise<boolean>;
}
