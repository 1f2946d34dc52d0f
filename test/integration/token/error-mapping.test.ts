import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { Client, credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { ASSERTION_TYPE, DEFAULT_ISSUER, buildAssertion } from '../../../lib/token/index.js';
import { call, callError, startTestGlobal, type TestGlobal } from '../../support/global-harness.js';

const RESOURCE = 'https://storage.authmesh.local';

/** The one error table, observed over real gRPC on loopback against global. */
describe('TokenService error mapping (gRPC)', () => {
  let g: TestGlobal;
  let tenantId: string;
  let clientId: string;
  let assertion: string;
  let secret: string;

  before(async () => {
    g = await startTestGlobal();
    ({ tenantId } = await call<{ tenantId: string }>(g.admin, 'createTenant', { name: 'errors' }, g.adminAuth));
    await call(g.admin, 'createResource', { tenantId, identifier: RESOURCE, roles: ['Blob.Read'] }, g.adminAuth);
    ({ clientId } = await call<{ clientId: string }>(g.admin, 'createApp', { tenantId, name: 'w' }, g.adminAuth));
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    await call(g.admin, 'addCertificateCredential', { tenantId, clientId, pem: publicKey.export({ format: 'pem', type: 'spki' }).toString() }, g.adminAuth);
    ({ secret } = await call<{ secret: string }>(g.admin, 'addSecretCredential', { tenantId, clientId }, g.adminAuth));
    await call(g.admin, 'grantRole', { tenantId, clientId, resource: RESOURCE, role: 'Blob.Read' }, g.adminAuth);
    ({ assertion } = await buildAssertion({ tenantId, clientId, issuer: DEFAULT_ISSUER, privateKey }));
  });

  after(async () => g?.close());

  const base = (): Record<string, string> => ({ tenantId, clientId, scope: `${RESOURCE}/.default`, clientAssertion: assertion, clientAssertionType: ASSERTION_TYPE });

  const expectError = async (request: object, code: status, oauth: string): Promise<ServiceError> => {
    const err = await callError(g.token, 'acquireToken', request);
    assert.equal(err.code, code, `${status[err.code]}: ${err.details}`);
    assert.equal(err.metadata.get('oauth-error')[0], oauth);
    assert.ok(err.details.length > 0, 'a human-readable message');
    return err;
  };

  it('issues a token when the assertion is valid', async () => {
    const res = await call<{ accessToken: string; faultDomain: string }>(g.token, 'acquireToken', base());
    assert.equal(res.faultDomain, 'global');
  });

  it('answers INVALID_ARGUMENT invalid_request for a missing field or an unknown tenant', async () => {
    await expectError({ ...base(), clientId: '' }, status.INVALID_ARGUMENT, 'invalid_request');
    await expectError({ ...base(), tenantId: '00000000-0000-0000-0000-000000000000' }, status.INVALID_ARGUMENT, 'invalid_request');
    await expectError({ ...base(), clientAssertionType: 'urn:nope' }, status.INVALID_ARGUMENT, 'invalid_request');
  });

  it('answers INVALID_ARGUMENT invalid_scope for an unknown resource or a malformed scope', async () => {
    await expectError({ ...base(), scope: 'https://unknown.example/.default' }, status.INVALID_ARGUMENT, 'invalid_scope');
    await expectError({ ...base(), scope: 'not a scope' }, status.INVALID_ARGUMENT, 'invalid_scope');
  });

  it('answers UNAUTHENTICATED invalid_client for an unknown client, a garbage JWT or a wrong secret', async () => {
    await expectError({ ...base(), clientId: 'unknown-client' }, status.UNAUTHENTICATED, 'invalid_client');
    await expectError({ ...base(), clientAssertion: 'garbage' }, status.UNAUTHENTICATED, 'invalid_client');
    await expectError({ ...base(), clientAssertion: '', clientAssertionType: '', clientSecret: `${secret}x` }, status.UNAUTHENTICATED, 'invalid_client');
  });

  it('answers PERMISSION_DENIED unauthorized_client when the role is revoked, and issues again after a new grant', async () => {
    await call(g.admin, 'revokeRole', { tenantId, clientId, resource: RESOURCE, role: 'Blob.Read' }, g.adminAuth);
    await expectError(base(), status.PERMISSION_DENIED, 'unauthorized_client');
    await call(g.admin, 'grantRole', { tenantId, clientId, resource: RESOURCE, role: 'Blob.Read' }, g.adminAuth);
    await call(g.token, 'acquireToken', base());
  });

  it('refuses a request over 64 KiB with RESOURCE_EXHAUSTED and keeps serving', async () => {
    const err = await callError(g.token, 'acquireToken', { ...base(), clientAssertion: 'x'.repeat(70 * 1024) });
    assert.equal(err.code, status.RESOURCE_EXHAUSTED);
    await call(g.token, 'acquireToken', base());
  });

  it('answers malformed protobuf bytes with an error and no token, and keeps serving', async () => {
    const raw = new Client(g.server.address, credentials.createInsecure());
    try {
      const err = await new Promise<ServiceError | null>((resolve) => {
        raw.makeUnaryRequest(
          '/authmesh.token.v1.TokenService/AcquireToken',
          (b: Buffer) => b,
          (b: Buffer) => b,
          Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]),
          new Metadata(),
          { deadline: Date.now() + 5000 },
          (e) => resolve(e),
        );
      });
      assert.ok(err, 'the call failed');
      assert.ok([status.INTERNAL, status.INVALID_ARGUMENT].includes(err.code), status[err.code]);
    } finally {
      raw.close();
    }
    await call(g.token, 'acquireToken', base());
  });
});
