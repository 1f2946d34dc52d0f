import type Database from 'better-sqlite3';
import type { Identity, SigningKey, Tenant } from '../../../lib/directory/index.js';
import { credentialFromRow, identityFromRows, type AppRow, type CredentialRow } from './identity-rows.js';

interface SigningKeyRow {
  kid: string;
  domain: string;
  public_jwk_json: string;
  created_at_ms: number;
  retired_at_ms: number;
}

/** Reads directory rows into the wire model (Identity, Tenant, SigningKey) the mesh exchanges. */
export class DirectoryReader {
  private readonly tenantRow;
  private readonly resourceRows;
  private readonly roleRows;
  private readonly appRow;
  private readonly credentialRows;
  private readonly grantRows;
  private readonly keyRows;

  constructor(db: Database.Database) {
    this.tenantRow = db.prepare<[string], { tenant_id: string; name: string }>('SELECT tenant_id, name FROM tenants WHERE tenant_id = ?');
    this.resourceRows = db.prepare<[string], { identifier: string }>(
      'SELECT identifier FROM resources WHERE tenant_id = ? ORDER BY identifier',
    );
    this.roleRows = db.prepare<[string], { identifier: string; role: string }>(
      'SELECT identifier, role FROM resource_roles WHERE tenant_id = ? ORDER BY identifier, role',
    );
    this.appRow = db.prepare<[string, string], AppRow>('SELECT * FROM apps WHERE tenant_id = ? AND client_id = ?');
    this.credentialRows = db.prepare<[string, string], CredentialRow>(
      'SELECT * FROM credentials WHERE tenant_id = ? AND client_id = ? ORDER BY created_at_ms, key_id',
    );
    this.grantRows = db.prepare<[string, string], { resource: string; role: string }>(
      'SELECT resource, role FROM role_grants WHERE tenant_id = ? AND client_id = ? ORDER BY resource, role',
    );
    this.keyRows = db.prepare<[], SigningKeyRow>('SELECT * FROM signing_keys ORDER BY created_at_ms, kid');
  }

  tenant(tenantId: string): Tenant | undefined {
    const row = this.tenantRow.get(tenantId);
    if (row === undefined) return undefined;
    const roles = new Map<string, string[]>();
    for (const r of this.resourceRows.all(tenantId)) roles.set(r.identifier, []);
    for (const r of this.roleRows.all(tenantId)) roles.get(r.identifier)?.push(r.role);
    return {
      tenantId: row.tenant_id,
      name: row.name,
      resources: [...roles].map(([identifier, list]) => ({ identifier, roles: list })),
    };
  }

  identity(tenantId: string, clientId: string): Identity | undefined {
    const app = this.appRow.get(tenantId, clientId);
    if (app === undefined) return undefined;
    return identityFromRows(
      app,
      this.credentialRows.all(tenantId, clientId).map(credentialFromRow),
      this.grantRows.all(tenantId, clientId).map((g) => ({ resource: g.resource, role: g.role })),
    );
  }

  signingKeys(): SigningKey[] {
    return this.keyRows.all().map((k) => ({
      kid: k.kid,
      domain: k.domain,
      publicJwkJson: k.public_jwk_json,
      createdAtMs: k.created_at_ms,
      retiredAtMs: k.retired_at_ms,
    }));
  }
}
