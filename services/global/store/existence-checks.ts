import type Database from 'better-sqlite3';
import { alreadyExists, notFound } from './directory-error.js';

/**
 * The existence checks mutations make inside their transaction, each failing with a refusal
 * that names what is missing or duplicated.
 */
export class ExistenceChecks {
  private readonly tenantRow;
  private readonly appRow;
  private readonly credentialRow;
  private readonly resourceRow;
  private readonly roleRow;

  constructor(db: Database.Database) {
    this.tenantRow = db.prepare<[string]>('SELECT 1 FROM tenants WHERE tenant_id = ?');
    this.appRow = db.prepare<[string, string]>('SELECT 1 FROM apps WHERE tenant_id = ? AND client_id = ?');
    this.credentialRow = db.prepare<[string, string, string]>('SELECT 1 FROM credentials WHERE tenant_id = ? AND client_id = ? AND key_id = ?');
    this.resourceRow = db.prepare<[string, string]>('SELECT 1 FROM resources WHERE tenant_id = ? AND identifier = ?');
    this.roleRow = db.prepare<[string, string, string]>('SELECT 1 FROM resource_roles WHERE tenant_id = ? AND identifier = ? AND role = ?');
  }

  tenant(tenantId: string): void {
    if (this.tenantRow.get(tenantId) === undefined) throw notFound(`tenant ${tenantId} does not exist`);
  }

  app(tenantId: string, clientId: string): void {
    this.tenant(tenantId);
    if (this.appRow.get(tenantId, clientId) === undefined) throw notFound(`application ${clientId} does not exist in tenant ${tenantId}`);
  }

  newKeyId(tenantId: string, clientId: string, keyId: string): void {
    if (this.credentialRow.get(tenantId, clientId, keyId) !== undefined) {
      throw alreadyExists(`application ${clientId} already has a credential with key id ${keyId}`);
    }
  }

  newResource(tenantId: string, identifier: string): void {
    if (this.resourceRow.get(tenantId, identifier) !== undefined) throw alreadyExists(`resource ${identifier} already exists in tenant ${tenantId}`);
  }

  role(tenantId: string, resource: string, role: string): void {
    if (this.resourceRow.get(tenantId, resource) === undefined) throw notFound(`resource ${resource} does not exist in tenant ${tenantId}`);
    if (this.roleRow.get(tenantId, resource, role) === undefined) throw notFound(`role ${role} is not defined on resource ${resource}`);
  }
}
