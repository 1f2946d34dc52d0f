import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Metadata, status } from '@grpc/grpc-js';
import { bearer, call, callError, startTestGlobal, type TestGlobal } from '../../support/global-harness.js';

const publicKeyPem = (): string =>
  generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'pem', type: 'spki' }).toString();

describe('AdminService', () => {
  let g: TestGlobal;
  let tenantId: string;
  let clientId: string;

  before(async () => {
    g = await startTestGlobal();
    ({ tenantId } = await call<{ tenantId: string }>(g.admin, 'createTenant', { name: 'contoso' }, g.adminAuth));
    ({ clientId } = await call<{ clientId: string }>(g.admin, 'createApp', { tenantId, name: 'billing' }, g.adminAuth));
    await call(g.admin, 'createResource', { tenantId, identifier: 'https://api.example', roles: ['read', 'write'] }, g.adminAuth);
  });

  after(async () => {
    await g.close();
  });

  describe('authorization', () => {
    it('answers UNAUTHENTICATED when the admin token is missing', async () => {
      const err = await callError(g.admin, 'listTenants', {});
      assert.equal(err.code, status.UNAUTHENTICATED);
    });

    it('answers UNAUTHENTICATED when the token is wrong', async () => {
      const err = await callError(g.admin, 'createTenant', { name: 'evil' }, bearer('not-the-token-at-all-000000000000'));
      assert.equal(err.code, status.UNAUTHENTICATED);
    });

    it('answers UNAUTHENTICATED when the mesh token is used for admin calls', async () => {
      const err = await callError(g.admin, 'listTenants', {}, bearer(g.server.meshToken));
      assert.equal(err.code, status.UNAUTHENTICATED);
    });

    it('answers UNAUTHENTICATED when the scheme is not Bearer', async () => {
      const md = new Metadata();
      md.set('authorization', `Basic ${g.server.adminToken}`);
      const err = await callError(g.admin, 'listTenants', {}, md);
      assert.equal(err.code, status.UNAUTHENTICATED);
    });

    it('keeps the admin token in the data dir with mode 0600 when global starts', () => {
      const file = path.join(g.dataDir, 'admin-token');
      assert.equal(fs.readFileSync(file, 'utf8').trim(), g.server.adminToken);
      assert.equal(fs.statSync(file).mode & 0o777, 0o600);
      assert.equal(fs.statSync(path.join(g.dataDir, 'mesh-token')).mode & 0o777, 0o600);
    });
  });

  describe('mutations', () => {
    it('returns strictly increasing revisions when mutations succeed', async () => {
      const a = await call<{ revision: number }>(g.admin, 'createApp', { tenantId, name: 'rev-a' }, g.adminAuth);
      const b = await call<{ revision: number }>(g.admin, 'createApp', { tenantId, name: 'rev-b' }, g.adminAuth);
      assert.equal(b.revision, a.revision + 1);
    });

    it('returns the secret once and stores only its hash when a secret credential is added', async () => {
      const res = await call<{ keyId: string; secret: string; notAfter: number }>(g.admin, 'addSecretCredential', { tenantId, clientId }, g.adminAuth);
      assert.ok(res.secret.length >= 32);
      assert.ok(res.notAfter > Date.now() / 1000);
      const stored = (await g.server.store.identity(tenantId, clientId))!.credentials.find((c) => c.keyId === res.keyId)!;
      assert.notEqual(stored.secretHash, res.secret);
      assert.ok(!stored.secretHash.includes(res.secret));
      const app = await call<{ credentials: { keyId: string; kind: string }[] }>(g.admin, 'getApp', { tenantId, clientId }, g.adminAuth);
      assert.ok(!JSON.stringify(app).includes(res.secret));
      assert.ok(app.credentials.some((c) => c.keyId === res.keyId && c.kind === 'secret'));
    });

    it('registers a certificate credential under its JWK thumbprint when the PEM is a public key', async () => {
      const res = await call<{ keyId: string }>(g.admin, 'addCertificateCredential', { tenantId, clientId, pem: publicKeyPem() }, g.adminAuth);
      assert.match(res.keyId, /^[A-Za-z0-9_-]{43}$/);
      const err = await callError(g.admin, 'removeCredential', { tenantId, clientId, keyId: 'unknownkey' }, g.adminAuth);
      assert.equal(err.code, status.NOT_FOUND);
      await call(g.admin, 'removeCredential', { tenantId, clientId, keyId: res.keyId }, g.adminAuth);
    });

    it('lists grants as resource#role when a role is granted', async () => {
      await call(g.admin, 'grantRole', { tenantId, clientId, resource: 'https://api.example', role: 'read' }, g.adminAuth);
      const app = await call<{ grants: string[] }>(g.admin, 'getApp', { tenantId, clientId }, g.adminAuth);
      assert.deepEqual(app.grants, ['https://api.example#read']);
    });
  });

  describe('input validation', () => {
    const cases: [string, string, () => object, status, RegExp][] = [
      ['an empty tenant name', 'createTenant', () => ({ name: '' }), status.INVALID_ARGUMENT, /name is required/],
      ['a duplicate tenant name', 'createTenant', () => ({ name: 'contoso' }), status.ALREADY_EXISTS, /already exists/],
      ['a malformed tenant id', 'createApp', () => ({ tenantId: 'abc', name: 'x' }), status.INVALID_ARGUMENT, /tenant_id must be a UUID/],
      ['an unknown tenant', 'createApp', () => ({ tenantId: '00000000-0000-4000-8000-000000000000', name: 'x' }), status.NOT_FOUND, /tenant .* does not exist/],
      ['a duplicate app name', 'createApp', () => ({ tenantId, name: 'billing' }), status.ALREADY_EXISTS, /already exists/],
      ['an unknown client', 'setAppEnabled', () => ({ tenantId, clientId: '00000000-0000-4000-8000-000000000000' }), status.NOT_FOUND, /does not exist/],
      ['a garbage PEM', 'addCertificateCredential', () => ({ tenantId, clientId, pem: '-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----' }), status.INVALID_ARGUMENT, /PEM/],
      ['an empty PEM', 'addCertificateCredential', () => ({ tenantId, clientId, pem: '' }), status.INVALID_ARGUMENT, /PEM/],
      ['a past not_after', 'addCertificateCredential', () => ({ tenantId, clientId, pem: publicKeyPem(), notAfter: 1000 }), status.INVALID_ARGUMENT, /expired|later/],
      ['a negative secret lifetime', 'addSecretCredential', () => ({ tenantId, clientId, lifetimeSeconds: -5 }), status.INVALID_ARGUMENT, /lifetime_seconds/],
      ['a relative resource identifier', 'createResource', () => ({ tenantId, identifier: 'storage', roles: [] }), status.INVALID_ARGUMENT, /absolute URI/],
      ['a duplicate resource', 'createResource', () => ({ tenantId, identifier: 'https://api.example', roles: [] }), status.ALREADY_EXISTS, /already exists/],
      ['a role listed twice', 'createResource', () => ({ tenantId, identifier: 'https://twice.example', roles: ['a', 'a'] }), status.INVALID_ARGUMENT, /twice/],
      ['a role not defined on the resource', 'grantRole', () => ({ tenantId, clientId, resource: 'https://api.example', role: 'admin' }), status.NOT_FOUND, /not defined/],
      ['an unknown resource', 'grantRole', () => ({ tenantId, clientId, resource: 'https://nope.example', role: 'read' }), status.NOT_FOUND, /resource .* does not exist/],
      ['a revoke of a role never granted', 'revokeRole', () => ({ tenantId, clientId, resource: 'https://api.example', role: 'write' }), status.NOT_FOUND, /has no role/],
    ];
    for (const [what, method, request, code, message] of cases) {
      it(`answers ${status[code]} when given ${what}`, async () => {
        const before = (await g.server.store.head());
        const err = await callError(g.admin, method, request(), g.adminAuth);
        assert.equal(err.code, code, err.details);
        assert.match(err.details, message);
        assert.equal((await g.server.store.head()), before, 'a refused mutation takes no revision');
      });
    }

    it('does not echo a private key when one is given as a credential', async () => {
      const pem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
      const err = await callError(g.admin, 'addCertificateCredential', { tenantId, clientId, pem }, g.adminAuth);
      assert.equal(err.code, status.INVALID_ARGUMENT);
      assert.ok(!err.details.includes('BEGIN'));
    });
  });

  describe('CompactChangeLog', () => {
    it('reports compacted_through as head minus retain when asked to compact', async () => {
      const head = (await g.server.store.head());
      const res = await call<{ compactedThrough: number }>(g.admin, 'compactChangeLog', { retain: 2 }, g.adminAuth);
      assert.equal(res.compactedThrough, head - 2);
    });
  });
});
