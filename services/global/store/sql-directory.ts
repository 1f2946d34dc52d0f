import { randomUUID } from 'node:crypto';
import type { Clock } from '../../../lib/clock/index.js';
import { USAGE_PRECISION_MS, type Credential, type Identity, type RoleGrant, type SigningKey, type Tenant } from '../../../lib/directory/index.js';
import { alreadyExists, failedPrecondition, notFound } from './directory-error.js';
import { credentialFromRow, identityFromRows, type AppRow, type CredentialRow } from './identity-rows.js';
import type { SqlEngine, SqlTx, SqlValue } from './sql-engine.js';
import type {
  AppSummary,
  CertificateInput,
  ChangeEntry,
  ChangeKind,
  CommitListener,
  DirectoryStore,
  Lookup,
  ReuseOption,
  SecretInput,
  Snapshot,
  TenantSummary,
  UsageRecord,
} from './store.js';

interface SigningKeyRow {
  kid: string;
  domain: string;
  public_jwk_json: string;
  created_at_ms: number;
  retired_at_ms: number;
}

interface ChangeRow {
  revision: number;
  kind: ChangeKind;
  tenant_id: string;
  client_id: string;
  committed_at_ms: number;
}

interface TenantRow {
  tenant_id: string;
  name: string;
  refuse_assertion_reuse: number;
}

interface KeyRow {
  tenant_id: string;
  client_id: string;
}

interface GrantRow extends KeyRow {
  resource: string;
  role: string;
}

const pairKey = (tenantId: string, clientId: string): string => `${tenantId}\n${clientId}`;

/**
 * The directory's rules written once over an engine: existence checks, posture, the revision
 * counter and the change log. Every mutation is one write transaction that takes the next
 * revision from the counter row (its row lock serializes writers, so revision order is commit
 * order), appends its change-log entry and applies the change; uniqueness is left to the
 * constraints and a violation becomes already_exists.
 */
export class SqlDirectory implements DirectoryStore {
  constructor(
    private readonly db: SqlEngine,
    private readonly clock: Clock,
  ) {}

  get engine(): string {
    return this.db.name;
  }

  get location(): string {
    return this.db.location;
  }

  close(): Promise<void> {
    return this.db.close();
  }

  onCommit(listener: CommitListener): () => void {
    return this.db.onCommit(listener);
  }

  // ---- mutations -------------------------------------------------------------------------

  async createTenant(name: string, options: ReuseOption = {}): Promise<{ tenantId: string; revision: number }> {
    const tenantId = randomUUID();
    const revision = await this.commit('tenant', tenantId, '', async (tx, now) => {
      await this.insert(
        tx,
        'INSERT INTO tenants (tenant_id, name, created_at_ms, refuse_assertion_reuse) VALUES (?, ?, ?, ?)',
        [tenantId, name, now, flag(options.refuseAssertionReuse)],
        `a tenant named "${name}" already exists`,
      );
    });
    return { tenantId, revision };
  }

  async createApp(tenantId: string, name: string, options: ReuseOption = {}): Promise<{ clientId: string; objectId: string; revision: number }> {
    const clientId = randomUUID();
    const objectId = randomUUID();
    const revision = await this.commit('identity', tenantId, clientId, async (tx, now) => {
      await existsTenant(tx, tenantId);
      await this.insert(
        tx,
        'INSERT INTO apps (tenant_id, client_id, object_id, name, created_at_ms, refuse_assertion_reuse) VALUES (?, ?, ?, ?, ?, ?)',
        [tenantId, clientId, objectId, name, now, flag(options.refuseAssertionReuse)],
        `an application named "${name}" already exists in tenant ${tenantId}`,
      );
    });
    return { clientId, objectId, revision };
  }

  setAppEnabled(tenantId: string, clientId: string, enabled: boolean): Promise<number> {
    return this.commit('identity', tenantId, clientId, async (tx, now) => {
      await existsApp(tx, tenantId, clientId);
      if (enabled) await tx.run('UPDATE apps SET enabled = 1 WHERE tenant_id = ? AND client_id = ?', [tenantId, clientId]);
      else await tx.run('UPDATE apps SET enabled = 0, posture_changed_at_ms = ? WHERE tenant_id = ? AND client_id = ?', [now, tenantId, clientId]);
    });
  }

  setAppAssertionReuse(tenantId: string, clientId: string, refuse: boolean): Promise<number> {
    // Not a posture change: a backup snapshot taken after it carries the flag and refuses replays
    // itself, and one taken before would not see a posture stamp either.
    return this.commit('identity', tenantId, clientId, async (tx) => {
      await existsApp(tx, tenantId, clientId);
      await tx.run('UPDATE apps SET refuse_assertion_reuse = ? WHERE tenant_id = ? AND client_id = ?', [flag(refuse), tenantId, clientId]);
    });
  }

  setTenantAssertionReuse(tenantId: string, refuse: boolean): Promise<number> {
    return this.commit('tenant', tenantId, '', async (tx) => {
      await existsTenant(tx, tenantId);
      await tx.run('UPDATE tenants SET refuse_assertion_reuse = ? WHERE tenant_id = ?', [flag(refuse), tenantId]);
    });
  }

  addCertificateCredential(tenantId: string, clientId: string, cert: CertificateInput): Promise<number> {
    return this.commit('identity', tenantId, clientId, async (tx, now) => {
      await existsApp(tx, tenantId, clientId);
      await this.insert(
        tx,
        `INSERT INTO credentials (tenant_id, client_id, key_id, kind, public_jwk_json, x5t_s256, not_before, not_after, created_at_ms)
         VALUES (?, ?, ?, 'certificate', ?, ?, ?, ?, ?)`,
        [tenantId, clientId, cert.keyId, cert.publicJwkJson, cert.x5tS256, cert.notBefore, cert.notAfter, now],
        `application ${clientId} already has a credential with key id ${cert.keyId}`,
      );
    });
  }

  addSecretCredential(tenantId: string, clientId: string, secret: SecretInput): Promise<number> {
    return this.commit('identity', tenantId, clientId, async (tx, now) => {
      await existsApp(tx, tenantId, clientId);
      await this.insert(
        tx,
        `INSERT INTO credentials (tenant_id, client_id, key_id, kind, secret_hash, not_before, not_after, created_at_ms)
         VALUES (?, ?, ?, 'secret', ?, ?, ?, ?)`,
        [tenantId, clientId, secret.keyId, secret.secretHash, secret.notBefore, secret.notAfter, now],
        `application ${clientId} already has a credential with key id ${secret.keyId}`,
      );
    });
  }

  removeCredential(tenantId: string, clientId: string, keyId: string): Promise<number> {
    return this.commit('identity', tenantId, clientId, async (tx, now) => {
      await existsApp(tx, tenantId, clientId);
      const removed = await tx.run('DELETE FROM credentials WHERE tenant_id = ? AND client_id = ? AND key_id = ?', [tenantId, clientId, keyId]);
      if (removed === 0) throw notFound(`application ${clientId} has no credential with key id ${keyId}`);
      await touchPosture(tx, tenantId, clientId, now);
    });
  }

  createResource(tenantId: string, identifier: string, roles: readonly string[]): Promise<number> {
    return this.commit('tenant', tenantId, '', async (tx, now) => {
      await existsTenant(tx, tenantId);
      await this.insert(
        tx,
        'INSERT INTO resources (tenant_id, identifier, created_at_ms) VALUES (?, ?, ?)',
        [tenantId, identifier, now],
        `resource ${identifier} already exists in tenant ${tenantId}`,
      );
      for (const role of roles) await tx.run('INSERT INTO resource_roles (tenant_id, identifier, role) VALUES (?, ?, ?)', [tenantId, identifier, role]);
    });
  }

  grantRole(tenantId: string, clientId: string, resource: string, role: string): Promise<number> {
    return this.commit('identity', tenantId, clientId, async (tx, now) => {
      await existsApp(tx, tenantId, clientId);
      if ((await tx.get('SELECT 1 AS one FROM resources WHERE tenant_id = ? AND identifier = ?', [tenantId, resource])) === undefined) {
        throw notFound(`resource ${resource} does not exist in tenant ${tenantId}`);
      }
      if ((await tx.get('SELECT 1 AS one FROM resource_roles WHERE tenant_id = ? AND identifier = ? AND role = ?', [tenantId, resource, role])) === undefined) {
        throw notFound(`role ${role} is not defined on resource ${resource}`);
      }
      await this.insert(
        tx,
        'INSERT INTO role_grants (tenant_id, client_id, resource, role, granted_at_ms) VALUES (?, ?, ?, ?, ?)',
        [tenantId, clientId, resource, role, now],
        `application ${clientId} already has role ${role} on ${resource}`,
      );
    });
  }

  revokeRole(tenantId: string, clientId: string, resource: string, role: string): Promise<number> {
    return this.commit('identity', tenantId, clientId, async (tx, now) => {
      await existsApp(tx, tenantId, clientId);
      const removed = await tx.run('DELETE FROM role_grants WHERE tenant_id = ? AND client_id = ? AND resource = ? AND role = ?', [
        tenantId,
        clientId,
        resource,
        role,
      ]);
      if (removed === 0) throw notFound(`application ${clientId} has no role ${role} on ${resource}`);
      await touchPosture(tx, tenantId, clientId, now);
    });
  }

  deleteApp(tenantId: string, clientId: string): Promise<number> {
    return this.commit('identity_removed', tenantId, clientId, async (tx) => {
      await existsApp(tx, tenantId, clientId);
      const key = [tenantId, clientId];
      await tx.run('DELETE FROM role_grants WHERE tenant_id = ? AND client_id = ?', key);
      await tx.run('DELETE FROM credentials WHERE tenant_id = ? AND client_id = ?', key);
      await tx.run('DELETE FROM usage WHERE tenant_id = ? AND client_id = ?', key);
      await tx.run('DELETE FROM apps WHERE tenant_id = ? AND client_id = ?', key);
    });
  }

  deleteResource(tenantId: string, identifier: string): Promise<number> {
    return this.commit('tenant', tenantId, '', async (tx) => {
      await existsTenant(tx, tenantId);
      if ((await tx.get('SELECT 1 AS one FROM resources WHERE tenant_id = ? AND identifier = ?', [tenantId, identifier])) === undefined) {
        throw notFound(`resource ${identifier} does not exist in tenant ${tenantId}`);
      }
      const granted = await tx.get<{ n: number }>('SELECT count(*) AS n FROM role_grants WHERE tenant_id = ? AND resource = ?', [tenantId, identifier]);
      const n = Number(granted?.n ?? 0);
      if (n > 0) throw failedPrecondition(`resource ${identifier} still has ${n} role grant(s); revoke them first`);
      await tx.run('DELETE FROM resource_roles WHERE tenant_id = ? AND identifier = ?', [tenantId, identifier]);
      await tx.run('DELETE FROM resources WHERE tenant_id = ? AND identifier = ?', [tenantId, identifier]);
    });
  }

  async registerSigningKey(kid: string, domain: string, publicJwkJson: string): Promise<{ revision: number; created: boolean }> {
    const known = await this.db.read((tx) => registeredKey(tx, kid));
    if (known !== undefined) return sameKey(kid, domain, known);
    try {
      const revision = await this.commit('signing_keys', '', '', async (tx, now, rev) => {
        await tx.run('UPDATE signing_keys SET retired_at_ms = ? WHERE domain = ? AND retired_at_ms = 0', [now, domain]);
        await tx.run('INSERT INTO signing_keys (kid, domain, public_jwk_json, created_at_ms, registered_revision) VALUES (?, ?, ?, ?, ?)', [
          kid,
          domain,
          publicJwkJson,
          now,
          rev,
        ]);
      });
      return { revision, created: true };
    } catch (err) {
      // Another instance registered the same kid between the read and the write.
      if (!this.db.isUniqueViolation(err)) throw err;
      const raced = await this.db.read((tx) => registeredKey(tx, kid));
      if (raced === undefined) throw err;
      return sameKey(kid, domain, raced);
    }
  }

  compactChangeLog(retain: number): Promise<number> {
    return this.db.write(async (tx) => {
      const through = Math.max(await compactedThrough(tx), (await head(tx)) - retain);
      await tx.run('DELETE FROM change_log WHERE revision <= ?', [through]);
      await tx.run("UPDATE meta SET value = ? WHERE key = 'compacted_through'", [String(through)]);
      return through;
    });
  }

  async recordUsage(records: readonly UsageRecord[]): Promise<void> {
    if (records.length === 0) return;
    await this.db.write(async (tx) => {
      for (const r of records) {
        // Only identities that exist are recorded; reports about unknown ones are dropped.
        await tx.run(
          `INSERT INTO usage (tenant_id, client_id, region, last_used_at_ms)
           SELECT tenant_id, client_id, CAST(? AS TEXT), CAST(? AS BIGINT) FROM apps WHERE tenant_id = ? AND client_id = ?
           ON CONFLICT (tenant_id, client_id, region) DO UPDATE SET last_used_at_ms = excluded.last_used_at_ms
           WHERE excluded.last_used_at_ms - usage.last_used_at_ms >= ${USAGE_PRECISION_MS}`,
          [r.region, r.atMs, r.tenantId, r.clientId],
        );
        if (r.authenticated) {
          await tx.run(
            `UPDATE apps SET last_authenticated_at_ms = CAST(? AS BIGINT)
             WHERE tenant_id = ? AND client_id = ?
               AND (last_authenticated_at_ms = 0 AND CAST(? AS BIGINT) > 0 OR CAST(? AS BIGINT) - last_authenticated_at_ms >= ${USAGE_PRECISION_MS})`,
            [r.atMs, r.tenantId, r.clientId, r.atMs, r.atMs],
          );
        }
      }
    });
  }

  // ---- reads -----------------------------------------------------------------------------

  tenant(tenantId: string): Promise<Tenant | undefined> {
    return this.db.read((tx) => readTenant(tx, tenantId));
  }

  identity(tenantId: string, clientId: string): Promise<Identity | undefined> {
    return this.db.read((tx) => readIdentity(tx, tenantId, clientId));
  }

  lookup(tenantId: string, clientId: string): Promise<Lookup> {
    return this.db.read(async (tx) => {
      const revision = await head(tx);
      const tenant = await readTenant(tx, tenantId);
      const identity = tenant === undefined ? undefined : await readIdentity(tx, tenantId, clientId);
      return { revision, tenant, identity };
    });
  }

  signingKeys(): Promise<SigningKey[]> {
    return this.db.read(readSigningKeys);
  }

  listTenants(): Promise<TenantSummary[]> {
    return this.db.read(listTenants);
  }

  listApps(tenantId: string): Promise<AppSummary[]> {
    return this.db.read(async (tx) => {
      await existsTenant(tx, tenantId);
      const rows = await tx.all<{ client_id: string; object_id: string; name: string; enabled: number }>(
        'SELECT client_id, object_id, name, enabled FROM apps WHERE tenant_id = ? ORDER BY created_at_ms, name',
        [tenantId],
      );
      return rows.map((r) => ({ clientId: r.client_id, objectId: r.object_id, name: r.name, enabled: Number(r.enabled) === 1 }));
    });
  }

  head(): Promise<number> {
    return this.db.read(head);
  }

  compactedThrough(): Promise<number> {
    return this.db.read(compactedThrough);
  }

  changesAfter(revision: number, limit: number): Promise<ChangeEntry[]> {
    return this.db.read(async (tx) =>
      (await tx.all<ChangeRow>('SELECT * FROM change_log WHERE revision > ? ORDER BY revision LIMIT ?', [revision, limit])).map((r) => ({
        revision: Number(r.revision),
        kind: r.kind,
        tenantId: r.tenant_id,
        clientId: r.client_id,
        committedAtMs: Number(r.committed_at_ms),
      })),
    );
  }

  snapshot(region: string, maxIdentities: number): Promise<Snapshot> {
    return this.db.read(async (tx) => {
      const keys = await snapshotKeys(tx, region, maxIdentities);
      const revision = await head(tx);
      const tenants = await readTenants(tx);
      const identities: Identity[] = [];
      for (const k of keys) {
        const identity = await readIdentity(tx, k.tenant_id, k.client_id);
        if (identity !== undefined) identities.push(identity);
      }
      return { revision, tenants, identities, signingKeys: await readSigningKeys(tx) };
    });
  }

  exportState(): Promise<Snapshot> {
    return this.db.read(async (tx) => ({
      revision: await head(tx),
      tenants: await readTenants(tx),
      identities: await readAllIdentities(tx),
      signingKeys: await readSigningKeys(tx),
    }));
  }

  claimLease(name: string, holder: string, ttlMs: number): Promise<boolean> {
    return this.db.claimLease(name, holder, ttlMs);
  }

  // ---- helpers ---------------------------------------------------------------------------

  /**
   * One mutation: takes the next revision from the counter row, appends the change-log entry,
   * runs `apply`, announces the revision to every instance, all in one write transaction. A throw
   * rolls everything back, the counter included, so a refused mutation leaves no gap.
   */
  private async commit(
    kind: ChangeKind,
    tenantId: string,
    clientId: string,
    apply: (tx: SqlTx, nowMs: number, revision: number) => Promise<void>,
  ): Promise<number> {
    const now = this.clock.now();
    return this.db.write(async (tx) => {
      const row = await tx.get<{ value: number }>('UPDATE revision_counter SET value = value + 1 WHERE id = 1 RETURNING value');
      const revision = Number(row!.value);
      await tx.run('INSERT INTO change_log (revision, kind, tenant_id, client_id, committed_at_ms) VALUES (?, ?, ?, ?, ?)', [
        revision,
        kind,
        tenantId,
        clientId,
        now,
      ]);
      await apply(tx, now, revision);
      await this.db.announce(tx, revision);
      return revision;
    });
  }

  /** An insert whose unique or primary key violation is the caller's "already exists". */
  private async insert(tx: SqlTx, sql: string, params: readonly SqlValue[], duplicate: string): Promise<void> {
    try {
      await tx.run(sql, params);
    } catch (err) {
      if (this.db.isUniqueViolation(err)) throw alreadyExists(duplicate);
      throw err;
    }
  }
}

/** A boolean column: 1 or 0 on every engine. */
function flag(value: boolean | undefined): number {
  return value === true ? 1 : 0;
}

async function existsTenant(tx: SqlTx, tenantId: string): Promise<void> {
  if ((await tx.get('SELECT 1 AS one FROM tenants WHERE tenant_id = ?', [tenantId])) === undefined) throw notFound(`tenant ${tenantId} does not exist`);
}

async function existsApp(tx: SqlTx, tenantId: string, clientId: string): Promise<void> {
  await existsTenant(tx, tenantId);
  if ((await tx.get('SELECT 1 AS one FROM apps WHERE tenant_id = ? AND client_id = ?', [tenantId, clientId])) === undefined) {
    throw notFound(`application ${clientId} does not exist in tenant ${tenantId}`);
  }
}

async function touchPosture(tx: SqlTx, tenantId: string, clientId: string, now: number): Promise<void> {
  await tx.run('UPDATE apps SET posture_changed_at_ms = ? WHERE tenant_id = ? AND client_id = ?', [now, tenantId, clientId]);
}

function registeredKey(tx: SqlTx, kid: string): Promise<{ domain: string; registered_revision: number } | undefined> {
  return tx.get('SELECT domain, registered_revision FROM signing_keys WHERE kid = ?', [kid]);
}

function sameKey(kid: string, domain: string, known: { domain: string; registered_revision: number }): { revision: number; created: boolean } {
  if (known.domain !== domain) throw alreadyExists(`signing key ${kid} is already registered for ${known.domain}`);
  return { revision: Number(known.registered_revision), created: false };
}

async function head(tx: SqlTx): Promise<number> {
  return Number((await tx.get<{ value: number }>('SELECT value FROM revision_counter WHERE id = 1'))?.value ?? 0);
}

async function compactedThrough(tx: SqlTx): Promise<number> {
  return Number((await tx.get<{ value: string }>("SELECT value FROM meta WHERE key = 'compacted_through'"))?.value ?? 0);
}

async function listTenants(tx: SqlTx): Promise<TenantSummary[]> {
  return (
    await tx.all<TenantRow>('SELECT tenant_id, name, refuse_assertion_reuse FROM tenants ORDER BY created_at_ms, name')
  ).map((r) => ({ tenantId: r.tenant_id, name: r.name, refuseAssertionReuse: Number(r.refuse_assertion_reuse) === 1 }));
}

async function readTenant(tx: SqlTx, tenantId: string): Promise<Tenant | undefined> {
  const row = await tx.get<TenantRow>('SELECT tenant_id, name, refuse_assertion_reuse FROM tenants WHERE tenant_id = ?', [tenantId]);
  if (row === undefined) return undefined;
  const roles = new Map<string, string[]>();
  for (const r of await tx.all<{ identifier: string }>('SELECT identifier FROM resources WHERE tenant_id = ? ORDER BY identifier', [tenantId])) {
    roles.set(r.identifier, []);
  }
  for (const r of await tx.all<{ identifier: string; role: string }>(
    'SELECT identifier, role FROM resource_roles WHERE tenant_id = ? ORDER BY identifier, role',
    [tenantId],
  )) {
    roles.get(r.identifier)?.push(r.role);
  }
  return {
    tenantId: row.tenant_id,
    name: row.name,
    resources: [...roles].map(([identifier, list]) => ({ identifier, roles: list })),
    // Unset unless on, so a tenant without the setting reads as it always did.
    ...(Number(row.refuse_assertion_reuse) === 1 ? { refuseAssertionReuse: true } : {}),
  };
}

async function readTenants(tx: SqlTx): Promise<Tenant[]> {
  const tenants: Tenant[] = [];
  for (const t of await listTenants(tx)) tenants.push((await readTenant(tx, t.tenantId))!);
  return tenants;
}

async function readIdentity(tx: SqlTx, tenantId: string, clientId: string): Promise<Identity | undefined> {
  const app = await tx.get<AppRow>('SELECT * FROM apps WHERE tenant_id = ? AND client_id = ?', [tenantId, clientId]);
  if (app === undefined) return undefined;
  const credentials = await tx.all<CredentialRow>('SELECT * FROM credentials WHERE tenant_id = ? AND client_id = ? ORDER BY created_at_ms, key_id', [
    tenantId,
    clientId,
  ]);
  const grants = await tx.all<{ resource: string; role: string }>(
    'SELECT resource, role FROM role_grants WHERE tenant_id = ? AND client_id = ? ORDER BY resource, role',
    [tenantId, clientId],
  );
  return identityFromRows(
    app,
    credentials.map(credentialFromRow),
    grants.map((g) => ({ resource: g.resource, role: g.role })),
  );
}

/** Every identity with three table scans instead of three queries per identity. */
async function readAllIdentities(tx: SqlTx): Promise<Identity[]> {
  const creds = new Map<string, Credential[]>();
  for (const c of await tx.all<CredentialRow>('SELECT * FROM credentials ORDER BY tenant_id, client_id, created_at_ms, key_id')) {
    const k = pairKey(c.tenant_id, c.client_id);
    let list = creds.get(k);
    if (list === undefined) creds.set(k, (list = []));
    list.push(credentialFromRow(c));
  }
  const grants = new Map<string, RoleGrant[]>();
  for (const g of await tx.all<GrantRow>('SELECT tenant_id, client_id, resource, role FROM role_grants ORDER BY tenant_id, client_id, resource, role')) {
    const k = pairKey(g.tenant_id, g.client_id);
    let list = grants.get(k);
    if (list === undefined) grants.set(k, (list = []));
    list.push({ resource: g.resource, role: g.role });
  }
  return (await tx.all<AppRow>('SELECT * FROM apps ORDER BY tenant_id, client_id')).map((a) => {
    const k = pairKey(a.tenant_id, a.client_id);
    return identityFromRows(a, creds.get(k) ?? [], grants.get(k) ?? []);
  });
}

async function readSigningKeys(tx: SqlTx): Promise<SigningKey[]> {
  return (await tx.all<SigningKeyRow>('SELECT * FROM signing_keys ORDER BY created_at_ms, kid')).map((k) => ({
    kid: k.kid,
    domain: k.domain,
    publicJwkJson: k.public_jwk_json,
    createdAtMs: Number(k.created_at_ms),
    retiredAtMs: Number(k.retired_at_ms),
  }));
}

/** The identities a snapshot for `region` carries, at most `max`. */
async function snapshotKeys(tx: SqlTx, region: string, max: number): Promise<KeyRow[]> {
  const count = Number((await tx.get<{ n: number }>('SELECT count(*) AS n FROM apps'))!.n);
  if (count <= max) return tx.all<KeyRow>('SELECT tenant_id, client_id FROM apps ORDER BY created_at_ms, client_id');
  if (region === '') {
    return tx.all<KeyRow>('SELECT tenant_id, client_id FROM apps ORDER BY last_authenticated_at_ms DESC, created_at_ms DESC LIMIT ?', [max]);
  }
  return tx.all<KeyRow>('SELECT tenant_id, client_id FROM usage WHERE region = ? ORDER BY last_used_at_ms DESC LIMIT ?', [region, max]);
}
