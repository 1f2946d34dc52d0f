import { randomUUID } from 'node:crypto';
import {
  AdminServiceService,
  type AdminServiceServer,
  type CredentialInfo,
} from '../../gen/authmesh/admin/v1/admin.js';
import { nowSeconds, type Clock } from '../../lib/clock/index.js';
import { CredentialKind } from '../../lib/directory/index.js';
import { OAuthError } from '../../lib/errors/index.js';
import type { CallerCheck, ServiceBinding } from '../../lib/grpc/index.js';
import type { Logger } from '../../lib/log/index.js';
import { generateSecret, hashSecret, parseCredentialPem } from '../../lib/token/index.js';
import {
  keyIdField,
  nameField,
  resourceField,
  roleField,
  rolesField,
  secretLifetimeField,
  uuidField,
  validityOf,
} from './admin-input.js';
import { guardAdmin } from './admin-auth.js';
import { BearerCheck, requireBearer } from './auth.js';
import type { BackupExporter } from './backup-exporter.js';
import { DEFAULT_HOST_TOKEN_SECONDS, MAX_HOST_TOKEN_SECONDS, type HostTokens } from './host-token.js';
import { notFound } from './store/directory-error.js';
import type { DirectoryStore } from './store/store.js';
import { unary } from './unary-handler.js';

export interface AdminServiceDeps {
  store: DirectoryStore;
  clock: Clock;
  log: Logger;
  /** The admin token; every call must carry it as `authorization: Bearer <token>`. */
  adminToken: string;
  /** Writes backup snapshots on demand (ExportBackup). */
  exporter?: Pick<BackupExporter, 'exportNow'>;
  /** Replaces the admin-token check, e.g. with mutual TLS: the admin certificate or the admin token. */
  callerCheck?: CallerCheck;
  /**
   * Host tokens (CreateHostToken): accepted besides the full admin right, but only for the
   * certificate credentials of the one application each names. Without it, CreateHostToken is
   * refused and only the full admin right is accepted.
   */
  hostTokens?: HostTokens;
}

/**
 * authmesh.admin.v1.AdminService: every directory mutation, each durable and stamped with its
 * revision when the call returns. Secrets are returned once, at creation, and never logged.
 */
export function adminServiceBinding({ store, clock, log, adminToken, exporter, callerCheck, hostTokens }: AdminServiceDeps): ServiceBinding {
  const mutated = (method: string, fields: Record<string, unknown>, revision: number): void =>
    log.info({ method, revision, ...fields }, 'directory mutation');

  const implementation: AdminServiceServer = {
    createTenant: unary(log, 'CreateTenant', async (req) => {
      const refuseAssertionReuse = req.refuseAssertionReuse;
      const result = await store.createTenant(nameField('name', req.name), { refuseAssertionReuse });
      mutated('CreateTenant', { tenantId: result.tenantId, refuseAssertionReuse }, result.revision);
      return result;
    }),
    createApp: unary(log, 'CreateApp', async (req) => {
      const tenantId = uuidField('tenant_id', req.tenantId);
      const refuseAssertionReuse = req.refuseAssertionReuse;
      const result = await store.createApp(tenantId, nameField('name', req.name), { refuseAssertionReuse });
      mutated('CreateApp', { tenantId, clientId: result.clientId, refuseAssertionReuse }, result.revision);
      return result;
    }),
    setAppEnabled: unary(log, 'SetAppEnabled', async (req) => {
      const [tenantId, clientId] = appKey(req);
      const revision = await store.setAppEnabled(tenantId, clientId, req.enabled);
      mutated('SetAppEnabled', { tenantId, clientId, enabled: req.enabled }, revision);
      return { revision };
    }),
    setAppAssertionReuse: unary(log, 'SetAppAssertionReuse', async (req) => {
      const [tenantId, clientId] = appKey(req);
      const revision = await store.setAppAssertionReuse(tenantId, clientId, req.refuseAssertionReuse);
      mutated('SetAppAssertionReuse', { tenantId, clientId, refuseAssertionReuse: req.refuseAssertionReuse }, revision);
      return { revision };
    }),
    setTenantAssertionReuse: unary(log, 'SetTenantAssertionReuse', async (req) => {
      const tenantId = uuidField('tenant_id', req.tenantId);
      const revision = await store.setTenantAssertionReuse(tenantId, req.refuseAssertionReuse);
      mutated('SetTenantAssertionReuse', { tenantId, refuseAssertionReuse: req.refuseAssertionReuse }, revision);
      return { revision };
    }),
    addCertificateCredential: unary(log, 'AddCertificateCredential', async (req) => {
      const [tenantId, clientId] = appKey(req);
      const parsed = await parseCredentialPem(req.pem);
      const validity = validityOf(req, parsed, nowSeconds(clock));
      const revision = await store.addCertificateCredential(tenantId, clientId, { ...parsed, ...validity });
      mutated('AddCertificateCredential', { tenantId, clientId, keyId: parsed.keyId }, revision);
      return { keyId: parsed.keyId, revision };
    }),
    addSecretCredential: unary(log, 'AddSecretCredential', async (req) => {
      const [tenantId, clientId] = appKey(req);
      const lifetime = secretLifetimeField(req.lifetimeSeconds);
      const secret = generateSecret();
      const now = nowSeconds(clock);
      const keyId = randomUUID();
      const notAfter = now + lifetime;
      const revision = await store.addSecretCredential(tenantId, clientId, { keyId, secretHash: hashSecret(secret), notBefore: now, notAfter });
      mutated('AddSecretCredential', { tenantId, clientId, keyId }, revision);
      return { keyId, secret, notAfter, revision };
    }),
    removeCredential: unary(log, 'RemoveCredential', async (req) => {
      const [tenantId, clientId] = appKey(req);
      const keyId = keyIdField('key_id', req.keyId);
      const revision = await store.removeCredential(tenantId, clientId, keyId);
      mutated('RemoveCredential', { tenantId, clientId, keyId }, revision);
      return { revision };
    }),
    createResource: unary(log, 'CreateResource', async (req) => {
      const tenantId = uuidField('tenant_id', req.tenantId);
      const identifier = resourceField('identifier', req.identifier);
      const revision = await store.createResource(tenantId, identifier, rolesField('roles', req.roles));
      mutated('CreateResource', { tenantId, identifier }, revision);
      return { revision };
    }),
    grantRole: unary(log, 'GrantRole', async (req) => {
      const [tenantId, clientId] = appKey(req);
      const resource = resourceField('resource', req.resource);
      const role = roleField('role', req.role);
      const revision = await store.grantRole(tenantId, clientId, resource, role);
      mutated('GrantRole', { tenantId, clientId, resource, role }, revision);
      return { revision };
    }),
    revokeRole: unary(log, 'RevokeRole', async (req) => {
      const [tenantId, clientId] = appKey(req);
      const resource = resourceField('resource', req.resource);
      const role = roleField('role', req.role);
      const revision = await store.revokeRole(tenantId, clientId, resource, role);
      mutated('RevokeRole', { tenantId, clientId, resource, role }, revision);
      return { revision };
    }),
    getApp: unary(log, 'GetApp', async (req) => {
      const [tenantId, clientId] = appKey(req);
      const { tenant, identity } = await store.lookup(tenantId, clientId);
      if (tenant === undefined) throw notFound(`tenant ${tenantId} does not exist`);
      if (identity === undefined) throw notFound(`application ${clientId} does not exist in tenant ${tenantId}`);
      return {
        clientId: identity.clientId,
        objectId: identity.objectId,
        name: identity.name,
        enabled: identity.enabled,
        credentials: identity.credentials.map(
          (c): CredentialInfo => ({
            keyId: c.keyId,
            kind: c.kind === CredentialKind.CREDENTIAL_KIND_CERTIFICATE ? 'certificate' : 'secret',
            notBefore: c.notBefore,
            notAfter: c.notAfter,
          }),
        ),
        grants: identity.grants.map((g) => `${g.resource}#${g.role}`),
        refuseAssertionReuse: identity.refuseAssertionReuse === true,
        tenantRefusesAssertionReuse: tenant.refuseAssertionReuse === true,
      };
    }),
    listTenants: unary(log, 'ListTenants', async () => ({ tenants: await store.listTenants() })),
    listApps: unary(log, 'ListApps', async (req) => ({ apps: await store.listApps(uuidField('tenant_id', req.tenantId)) })),
    listResources: unary(log, 'ListResources', async (req) => {
      const tenantId = uuidField('tenant_id', req.tenantId);
      const tenant = await store.tenant(tenantId);
      if (tenant === undefined) throw notFound(`tenant ${tenantId} does not exist`);
      return { resources: tenant.resources.map((r) => ({ identifier: r.identifier, roles: [...r.roles] })) };
    }),
    deleteApp: unary(log, 'DeleteApp', async (req) => {
      const [tenantId, clientId] = appKey(req);
      const revision = await store.deleteApp(tenantId, clientId);
      mutated('DeleteApp', { tenantId, clientId }, revision);
      return { revision };
    }),
    deleteResource: unary(log, 'DeleteResource', async (req) => {
      const tenantId = uuidField('tenant_id', req.tenantId);
      const identifier = resourceField('identifier', req.identifier);
      const revision = await store.deleteResource(tenantId, identifier);
      mutated('DeleteResource', { tenantId, identifier }, revision);
      return { revision };
    }),
    compactChangeLog: unary(log, 'CompactChangeLog', async (req) => {
      const compactedThrough = await store.compactChangeLog(req.retain);
      log.info({ method: 'CompactChangeLog', retain: req.retain, compactedThrough }, 'change log compacted');
      return { compactedThrough };
    }),
    exportBackup: unary(log, 'ExportBackup', async () => {
      if (exporter === undefined) throw new Error('backup export is not configured');
      const result = await exporter.exportNow();
      return { revision: result.revision, snapshotName: result.name, identities: result.identities };
    }),
    createHostToken: unary(log, 'CreateHostToken', async (req) => {
      if (hostTokens === undefined) throw new Error('host tokens are not configured');
      const [tenantId, clientId] = appKey(req);
      const lifetime = req.lifetimeSeconds === 0 ? DEFAULT_HOST_TOKEN_SECONDS : req.lifetimeSeconds;
      if (lifetime > MAX_HOST_TOKEN_SECONDS) throw new OAuthError('invalid_request', `lifetime_seconds must be at most ${MAX_HOST_TOKEN_SECONDS}`);
      if ((await store.identity(tenantId, clientId)) === undefined) throw notFound(`application ${clientId} does not exist in tenant ${tenantId}`);
      const { token, expiresAt } = hostTokens.create(tenantId, clientId, lifetime);
      // The token itself is never logged.
      log.info({ method: 'CreateHostToken', tenantId, clientId, expiresAt }, 'host token created');
      return { token, expiresAt };
    }),
  };

  return {
    name: 'authmesh.admin.v1.AdminService',
    definition: AdminServiceService,
    implementation:
      hostTokens === undefined
        ? requireBearer(AdminServiceService, implementation, callerCheck ?? new BearerCheck([adminToken]), 'admin token')
        : guardAdmin(AdminServiceService, implementation, callerCheck ?? new BearerCheck([adminToken]), hostTokens, (t, c) => store.identity(t, c)),
  };
}

function appKey(req: { tenantId: string; clientId: string }): [string, string] {
  return [uuidField('tenant_id', req.tenantId), uuidField('client_id', req.clientId)];
}
