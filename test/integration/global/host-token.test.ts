import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { status, type ServiceError } from '@grpc/grpc-js';
import { AdminServiceService } from '../../../gen/authmesh/admin/v1/admin.js';
import { bearer, call, callError, startTestGlobal, type TestGlobal } from '../../support/global-harness.js';

const publicKeyPem = (): string =>
  generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'pem', type: 'spki' }).toString();

const permissionDenied = (err: ServiceError, what: string): void => {
  assert.equal(err.code, status.PERMISSION_DENIED, `${what}: ${status[err.code]} ${err.details}`);
  assert.equal(err.metadata.get('oauth-error')[0], 'unauthorized_client', what);
};

/**
 * A host token (CreateHostToken) on a real global over loopback: it rotates the certificate
 * credentials of the one application it names and nothing else.
 */
describe('AdminService host tokens', () => {
  let g: TestGlobal;
  let tenantId: string;
  let clientId: string;
  let otherClientId: string;
  let hostToken: string;

  before(async () => {
    g = await startTestGlobal();
    ({ tenantId } = await call<{ tenantId: string }>(g.admin, 'createTenant', { name: 'hosts' }, g.adminAuth));
    ({ clientId } = await call<{ clientId: string }>(g.admin, 'createApp', { tenantId, name: 'host-vm-1' }, g.adminAuth));
    ({ clientId: otherClientId } = await call<{ clientId: string }>(g.admin, 'createApp', { tenantId, name: 'host-vm-2' }, g.adminAuth));
    await call(g.admin, 'createResource', { tenantId, identifier: 'https://api.example', roles: ['read'] }, g.adminAuth);
    ({ token: hostToken } = await call<{ token: string }>(g.admin, 'createHostToken', { tenantId, clientId }, g.adminAuth));
  });

  after(async () => {
    await g.close();
  });

  it('registers and removes the named application\'s own certificate credential with a host token', async () => {
    const md = bearer(hostToken);
    const { keyId } = await call<{ keyId: string }>(g.admin, 'addCertificateCredential', { tenantId, clientId, pem: publicKeyPem() }, md);
    let app = await call<{ credentials: Array<{ keyId: string }> }>(g.admin, 'getApp', { tenantId, clientId }, g.adminAuth);
    assert.deepEqual(app.credentials.map((c) => c.keyId), [keyId]);
    await call(g.admin, 'removeCredential', { tenantId, clientId, keyId }, md);
    app = await call<{ credentials: Array<{ keyId: string }> }>(g.admin, 'getApp', { tenantId, clientId }, g.adminAuth);
    assert.deepEqual(app.credentials, []);
  });

  it('refuses a host token with PERMISSION_DENIED and unauthorized_client for every other admin method', async () => {
    const md = bearer(hostToken);
    const app = { tenantId, clientId };
    const requests: Record<string, object> = {
      createTenant: { name: 'evil' },
      createApp: { tenantId, name: 'evil' },
      setAppEnabled: { ...app, enabled: false },
      setAppAssertionReuse: { ...app, refuseAssertionReuse: true },
      setTenantAssertionReuse: { tenantId, refuseAssertionReuse: true },
      addSecretCredential: app,
      createResource: { tenantId, identifier: 'https://evil.example', roles: ['x'] },
      grantRole: { ...app, resource: 'https://api.example', role: 'read' },
      revokeRole: { ...app, resource: 'https://api.example', role: 'read' },
      getApp: app,
      listTenants: {},
      compactChangeLog: { retain: 0 },
      exportBackup: {},
      createHostToken: { tenantId, clientId: otherClientId },
      listApps: { tenantId },
      listResources: { tenantId },
      // Its own application: a host token still may not delete it.
      deleteApp: app,
      deleteResource: { tenantId, identifier: 'https://api.example' },
    };
    const others = Object.keys(AdminServiceService).filter((m) => m !== 'addCertificateCredential' && m !== 'removeCredential');
    assert.deepEqual(others.sort(), Object.keys(requests).sort(), 'every other method is tried');
    for (const method of others) permissionDenied(await callError(g.admin, method, requests[method]!, md), method);
    const after = await call<{ enabled: boolean; grants: string[] }>(g.admin, 'getApp', app, g.adminAuth);
    assert.equal(after.enabled, true);
    assert.deepEqual(after.grants, []);
    const resources = await call<{ resources: { identifier: string }[] }>(g.admin, 'listResources', { tenantId }, g.adminAuth);
    assert.ok(resources.resources.some((r) => r.identifier === 'https://api.example'), 'the resource is still there');
  });

  it('refuses a host token for another application, and for a secret credential of its own application', async () => {
    const md = bearer(hostToken);
    permissionDenied(await callError(g.admin, 'addCertificateCredential', { tenantId, clientId: otherClientId, pem: publicKeyPem() }, md), 'add on another app');
    const { keyId: otherKey } = await call<{ keyId: string }>(g.admin, 'addCertificateCredential', { tenantId, clientId: otherClientId, pem: publicKeyPem() }, g.adminAuth);
    permissionDenied(await callError(g.admin, 'removeCredential', { tenantId, clientId: otherClientId, keyId: otherKey }, md), 'remove on another app');
    const { tenantId: otherTenant } = await call<{ tenantId: string }>(g.admin, 'createTenant', { name: 'other-tenant' }, g.adminAuth);
    permissionDenied(await callError(g.admin, 'addCertificateCredential', { tenantId: otherTenant, clientId, pem: publicKeyPem() }, md), 'add in another tenant');
    const { keyId: secretKey } = await call<{ keyId: string }>(g.admin, 'addSecretCredential', { tenantId, clientId }, g.adminAuth);
    permissionDenied(await callError(g.admin, 'removeCredential', { tenantId, clientId, keyId: secretKey }, md), 'remove own secret');
    const app = await call<{ credentials: Array<{ keyId: string }> }>(g.admin, 'getApp', { tenantId, clientId: otherClientId }, g.adminAuth);
    assert.deepEqual(app.credentials.map((c) => c.keyId), [otherKey], 'the other app kept its credential');
  });

  it('answers UNAUTHENTICATED to a tampered host token, and refuses to make one without the admin token', async () => {
    const tampered = `${hostToken.slice(0, -2)}${hostToken.endsWith('AA') ? 'BB' : 'AA'}`;
    const err = await callError(g.admin, 'addCertificateCredential', { tenantId, clientId, pem: publicKeyPem() }, bearer(tampered));
    assert.equal(err.code, status.UNAUTHENTICATED);
    // The same token for another app, with the MAC of the real one: a forged scope.
    const forged = hostToken.replace(clientId, otherClientId);
    assert.equal((await callError(g.admin, 'addCertificateCredential', { tenantId, clientId: otherClientId, pem: publicKeyPem() }, bearer(forged))).code, status.UNAUTHENTICATED);
    assert.equal((await callError(g.admin, 'createHostToken', { tenantId, clientId })).code, status.UNAUTHENTICATED);
    assert.equal((await callError(g.admin, 'createHostToken', { tenantId, clientId }, bearer(g.server.meshToken))).code, status.UNAUTHENTICATED);
  });

  it('answers NOT_FOUND when a host token is asked for an application that does not exist, and INVALID_ARGUMENT past 400 days', async () => {
    const missing = await callError(g.admin, 'createHostToken', { tenantId, clientId: '00000000-0000-4000-8000-000000000000' }, g.adminAuth);
    assert.equal(missing.code, status.NOT_FOUND);
    const long = await callError(g.admin, 'createHostToken', { tenantId, clientId, lifetimeSeconds: 401 * 86_400 }, g.adminAuth);
    assert.equal(long.code, status.INVALID_ARGUMENT);
    assert.equal(long.metadata.get('oauth-error')[0], 'invalid_request');
  });
});
