import { randomUUID } from 'node:crypto';
import type Database from 'better-sqlite3';
import type { Clock } from '../../../lib/clock/index.js';
import type { Identity, SigningKey, Tenant } from '../../../lib/directory/index.js';
import { ChangeLog, type ChangeEntry, type ChangeKind } from './change-log.js';
import { alreadyExists, notFound } from './directory-error.js';
import { DirectoryReader } from './directory-reader.js';
import { ExistenceChecks } from './existence-checks.js';
import { ExportReader } from './export-reader.js';
import { openDatabase } from './open-database.js';
import { UsageTable, type UsageRecord } from './usage-table.js';

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

export interface Snapshot {
  revision: number;
  tenants: Tenant[];
  identities: Identity[];
  signingKeys: SigningKey[];
}

type CommitListener = (revision: number) => void;

/**
 * Global's durable directory. Every mutation runs in one SQLite transaction that also appends its
 * change-log entry, so the revision it returns is durable and gap-free when the call returns.
 * Existence and uniqueness are checked here; input format is checked by the caller.
 */
export class DirectoryStore {
  readonly log: ChangeLog;
  private readonly reader: DirectoryReader;
  private readonly usage: UsageTable;
  private readonly exists: ExistenceChecks;
  private readonly exportReader: ExportReader;
  private readonly listeners = new Set<CommitListener>();

  private constructor(
    private readonly db: Database.Database,
    private readonly clock: Clock,
  ) {
    this.log = new ChangeLog(db);
    this.reader = new DirectoryReader(db);
    this.usage = new UsageTable(db);
    this.exists = new ExistenceChecks(db);
    this.exportReader = new ExportReader(db);
  }

  /** Opens or creates the store in `file` (normally `<data-dir>/directory.db`). */
  static open(file: string, clock: Clock): DirectoryStore {
    return new DirectoryStore(openDatabase(file), clock);
  }

  close(): void {
    this.listeners.clear();
    if (this.db.open) this.db.close();
  }

  /** Calls `listener` with the revision after each mutation commits. Returns an unsubscribe. */
  onCommit(listener: CommitListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  // ---- mutations -------------------------------------------------------------------------

  createTenant(name: string): { tenantId: string; revision: number } {
    const tenantId = randomUUID();
    const revision = this.commit('tenant', tenantId, '', (now) => {
      if (this.db.prepare('SELECT 1 FROM tenants WHERE name = ?').get(name) !== undefined) {
        throw alreadyExists(`a tenant named "${name}" already exists`);
      }
      this.db.prepare('INSERT INTO tenants (tenant_id, name, created_at_ms) VALUES (?, ?, ?)').run(tenantId, name, now);
    });
    return { tenantId, revision };
  }

  createApp(tenantId: string, name: string): { clientId: string; objectId: string; revision: number } {
    const clientId = randomUUID();
    const objectId = randomUUID();
    const revision = this.commit('identity', tenantId, clientId, (now) => {
      this.exists.tenant(tenantId);
      if (this.db.prepare('SELECT 1 FROM apps WHERE tenant_id = ? AND name = ?').get(tenantId, name) !== undefined) {
        throw alreadyExists(`an application named "${name}" already exists in tenant ${tenantId}`);
      }
      this.db
        .prepare('INSERT INTO apps (tenant_id, client_id, object_id, name, created_at_ms) VALUES (?, ?, ?, ?, ?)')
        .run(tenantId, clientId, objectId, name, now);
    });
    return { clientId, objectId, revision };
  }

  setAppEnabled(tenantId: string, clientId: string, enabled: boolean): number {
    return this.commit('identity', tenantId, clientId, (now) => {
      this.exists.app(tenantId, clientId);
      const sql = enabled
        ? 'UPDATE apps SET enabled = 1 WHERE tenant_id = ? AND client_id = ?'
        : 'UPDATE apps SET enabled = 0, posture_changed_at_ms = ? WHERE tenant_id = ? AND client_id = ?';
      const params = enabled ? [tenantId, clientId] : [now, tenantId, clientId];
      this.db.prepare(sql).run(...params);
    });
  }

  addCertificateCredential(tenantId: string, clientId: string, cert: CertificateInput): number {
    return this.commit('identity', tenantId, clientId, (now) => {
      this.exists.app(tenantId, clientId);
      this.exists.newKeyId(tenantId, clientId, cert.keyId);
      this.db
        .prepare(
          `INSERT INTO credentials (tenant_id, client_id, key_id, kind, public_jwk_json, x5t_s256, not_before, not_after, created_at_ms)
           VALUES (?, ?, ?, 'certificate', ?, ?, ?, ?, ?)`,
        )
        .run(tenantId, clientId, cert.keyId, cert.publicJwkJson, cert.x5tS256, cert.notBefore, cert.notAfter, now);
    });
  }

  addSecretCredential(tenantId: string, clientId: string, secret: SecretInput): number {
    return this.commit('identity', tenantId, clientId, (now) => {
      this.exists.app(tenantId, clientId);
      this.exists.newKeyId(tenantId, clientId, secret.keyId);
      this.db
        .prepare(
          `INSERT INTO credentials (tenant_id, client_id, key_id, kind, secret_hash, not_before, not_after, created_at_ms)
           VALUES (?, ?, ?, 'secret', ?, ?, ?, ?)`,
        )
        .run(tenantId, clientId, secret.keyId, secret.secretHash, secret.notBefore, secret.notAfter, now);
    });
  }

  removeCredential(tenantId: string, clientId: string, keyId: string): number {
    return this.commit('identity', tenantId, clientId, (now) => {
      this.exists.app(tenantId, clientId);
      const removed = this.db
        .prepare('DELETE FROM credentials WHERE tenant_id = ? AND client_id = ? AND key_id = ?')
        .run(tenantId, clientId, keyId);
      if (removed.changes === 0) throw notFound(`application ${clientId} has no credential with key id ${keyId}`);
      this.touchPosture(tenantId, clientId, now);
    });
  }

  createResource(tenantId: string, identifier: string, roles: readonly string[]): number {
    return this.commit('tenant', tenantId, '', (now) => {
      this.exists.tenant(tenantId);
      this.exists.newResource(tenantId, identifier);
      this.db.prepare('INSERT INTO resources (tenant_id, identifier, created_at_ms) VALUES (?, ?, ?)').run(tenantId, identifier, now);
      const insertRole = this.db.prepare('INSERT INTO resource_roles (tenant_id, identifier, role) VALUES (?, ?, ?)');
      for (const role of roles) insertRole.run(tenantId, identifier, role);
    });
  }

  grantRole(tenantId: string, clientId: string, resource: string, role: string): number {
    return this.commit('identity', tenantId, clientId, (now) => {
      this.exists.app(tenantId, clientId);
      this.exists.role(tenantId, resource, role);
      const exists = this.db
        .prepare('SELECT 1 FROM role_grants WHERE tenant_id = ? AND client_id = ? AND resource = ? AND role = ?')
        .get(tenantId, clientId, resource, role);
      if (exists !== undefined) throw alreadyExists(`application ${clientId} already has role ${role} on ${resource}`);
      this.db
        .prepare('INSERT INTO role_grants (tenant_id, client_id, resource, role, granted_at_ms) VALUES (?, ?, ?, ?, ?)')
        .run(tenantId, clientId, resource, role, now);
    });
  }

  revokeRole(tenantId: string, clientId: string, resource: string, role: string): number {
    return this.commit('identity', tenantId, clientId, (now) => {
      this.exists.app(tenantId, clientId);
      const removed = this.db
        .prepare('DELETE FROM role_grants WHERE tenant_id = ? AND client_id = ? AND resource = ? AND role = ?')
        .run(tenantId, clientId, resource, role);
      if (removed.changes === 0) throw notFound(`application ${clientId} has no role ${role} on ${resource}`);
      this.touchPosture(tenantId, clientId, now);
    });
  }

  /**
   * Publishes a fault domain's public key. The same key again is a no-op that answers with the
   * revision it was first published at; a new key retires the domain's previous active keys.
   */
  registerSigningKey(kid: string, domain: string, publicJwkJson: string): { revision: number; created: boolean } {
    const existing = this.db
      .prepare<[string], { domain: string; registered_revision: number }>('SELECT domain, registered_revision FROM signing_keys WHERE kid = ?')
      .get(kid);
    if (existing !== undefined) {
      if (existing.domain !== domain) throw alreadyExists(`signing key ${kid} is already registered for ${existing.domain}`);
      return { revision: existing.registered_revision, created: false };
    }
    const revision = this.commit('signing_keys', '', '', (now, rev) => {
      this.db.prepare('UPDATE signing_keys SET retired_at_ms = ? WHERE domain = ? AND retired_at_ms = 0').run(now, domain);
      this.db
        .prepare('INSERT INTO signing_keys (kid, domain, public_jwk_json, created_at_ms, registered_revision) VALUES (?, ?, ?, ?, ?)')
        .run(kid, domain, publicJwkJson, now, rev());
    });
    return { revision, created: true };
  }

  /** Drops change-log entries but the newest `retain`; returns the compaction point. */
  compactChangeLog(retain: number): number {
    return this.log.compact(retain);
  }

  // ---- reads -----------------------------------------------------------------------------

  tenant(tenantId: string): Tenant | undefined {
    return this.reader.tenant(tenantId);
  }

  identity(tenantId: string, clientId: string): Identity | undefined {
    return this.reader.identity(tenantId, clientId);
  }

  signingKeys(): SigningKey[] {
    return this.reader.signingKeys();
  }

  listTenants(): { tenantId: string; name: string }[] {
    return this.db
      .prepare<[], { tenant_id: string; name: string }>('SELECT tenant_id, name FROM tenants ORDER BY created_at_ms, name')
      .all()
      .map((r) => ({ tenantId: r.tenant_id, name: r.name }));
  }

  changesAfter(revision: number, limit: number): ChangeEntry[] {
    return this.log.after(revision, limit);
  }

  /**
   * A consistent view at one revision: every tenant and signing key, and the identities most
   * recently used in `region` (every identity when there are no more than `maxIdentities`).
   */
  snapshot(region: string, maxIdentities: number): Snapshot {
    return this.db.transaction(() => {
      const keys = this.usage.snapshotKeys(region, maxIdentities);
      return {
        revision: this.log.head(),
        tenants: this.listTenants().map((t) => this.reader.tenant(t.tenantId)!),
        identities: keys.map((k) => this.reader.identity(k.tenantId, k.clientId)).filter((i): i is Identity => i !== undefined),
        signingKeys: this.reader.signingKeys(),
      };
    })();
  }

  /** Every tenant, identity and signing key at one revision, for the backup export. */
  exportState(): Snapshot {
    return this.db.transaction(() => ({
      revision: this.log.head(),
      tenants: this.listTenants().map((t) => this.reader.tenant(t.tenantId)!),
      identities: this.exportReader.identities(),
      signingKeys: this.reader.signingKeys(),
    }))();
  }

  /** Records usage (not a mutation: no revision, no change-log entry). */
  recordUsage(records: readonly UsageRecord[]): void {
    if (records.length > 0) this.usage.record(records);
  }

  // ---- helpers ---------------------------------------------------------------------------

  /** Runs `apply` and appends the change in one immediate transaction, then tells listeners. */
  private commit(kind: ChangeKind, tenantId: string, clientId: string, apply: (nowMs: number, revision: () => number) => void): number {
    const now = this.clock.now();
    const revision = this.db
      .transaction(() => {
        // The entry goes in first so `apply` can record the revision it is part of; a throw in
        // `apply` rolls the entry (and the AUTOINCREMENT counter) back with everything else.
        const rev = this.log.append(kind, tenantId, clientId, now);
        apply(now, () => rev);
        return rev;
      })
      .immediate();
    for (const listener of this.listeners) listener(revision);
    return revision;
  }

  private touchPosture(tenantId: string, clientId: string, now: number): void {
    this.db.prepare('UPDATE apps SET posture_changed_at_ms = ? WHERE tenant_id = ? AND client_id = ?').run(now, tenantId, clientId);
  }
}
