import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import { createLocalJWKSet, jwtVerify } from 'jose';
import type { AcquireTokenResponse } from '../../../gen/authmesh/token/v1/token.js';
import { sleep } from '../../support/spawn-service.js';
import { bearer, call, callError, startTestGlobal, type TestGlobal } from '../../support/global-harness.js';

const RESOURCE = 'https://storage.example';

describe('global TokenService', () => {
  let g: TestGlobal;
  let tenantId: string;
  let clientId: string;
  let secret: string;

  before(async () => {
    g = await startTestGlobal();
    ({ tenantId } = await call<{ tenantId: string }>(g.admin, 'createTenant', { name: 'contoso' }, g.adminAuth));
    ({ clientId } = await call<{ clientId: string }>(g.admin, 'createApp', { tenantId, name: 'billing' }, g.adminAuth));
    await call(g.admin, 'createResource', { tenantId, identifier: RESOURCE, roles: ['read', 'write'] }, g.adminAuth);
    await call(g.admin, 'grantRole', { tenantId, clientId, resource: RESOURCE, role: 'read' }, g.adminAuth);
    ({ secret } = await call<{ secret: string }>(g.admin, 'addSecretCredential', { tenantId, clientId }, g.adminAuth));
  });

  after(async () => {
    await g.close();
  });

  const acquire = (overrides: object = {}): Promise<AcquireTokenResponse> =>
    call<AcquireTokenResponse>(g.token, 'acquireToken', { tenantId, clientId, scope: `${RESOURCE}/.default`, clientSecret: secret, ...overrides });

  it('issues a token from fault domain global that verifies against its JWK Set when the secret is right', async () => {
    const res = await acquire();
    assert.equal(res.faultDomain, 'global');
    assert.equal(res.tokenType, 'Bearer');
    const { jwksJson } = await call<{ jwksJson: string }>(g.token, 'getJwks', { tenantId });
    const { payload, protectedHeader } = await jwtVerify(res.accessToken, createLocalJWKSet(JSON.parse(jwksJson)), {
      issuer: `https://login.authmesh.local/${tenantId}/v2.0`,
      audience: RESOURCE,
    });
    assert.equal(protectedHeader.kid, g.server.signer.kid);
    assert.deepEqual(payload.roles, ['read']);
    assert.equal(payload.client_id, clientId);
  });

  it('records the authentication in the directory shortly after a token is issued', async () => {
    await acquire();
    const until = Date.now() + 3000;
    while ((await g.server.store.identity(tenantId, clientId))!.lastAuthenticatedAtMs === 0 && Date.now() < until) await sleep(20);
    assert.ok((await g.server.store.identity(tenantId, clientId))!.lastAuthenticatedAtMs > 0);
  });

  it('answers UNAUTHENTICATED with oauth-error invalid_client when the secret is wrong', async () => {
    const err = await callError(g.token, 'acquireToken', {
      tenantId,
      clientId,
      scope: `${RESOURCE}/.default`,
      clientSecret: 'ams_wrong',
    });
    assert.equal(err.code, status.UNAUTHENTICATED);
    assert.deepEqual(err.metadata.get('oauth-error'), ['invalid_client']);
  });

  it('answers PERMISSION_DENIED when the app was disabled', async () => {
    await call(g.admin, 'setAppEnabled', { tenantId, clientId, enabled: false }, g.adminAuth);
    try {
      const err = await callError(g.token, 'acquireToken', { tenantId, clientId, scope: `${RESOURCE}/.default`, clientSecret: secret });
      assert.equal(err.code, status.PERMISSION_DENIED);
    } finally {
      await call(g.admin, 'setAppEnabled', { tenantId, clientId, enabled: true }, g.adminAuth);
    }
  });

  it('publishes keys registered by other fault domains in the JWK Set when they register', async () => {
    const jwk = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' });
    const { kid } = await call<{ kid: string }>(
      g.directory,
      'registerSigningKey',
      { domain: 'regional/westus', publicJwkJson: JSON.stringify(jwk) },
      bearer(g.server.memberToken('regional-westus')),
    );
    const { jwksJson } = await call<{ jwksJson: string }>(g.token, 'getJwks', { tenantId });
    const kids = (JSON.parse(jwksJson) as { keys: { kid: string }[] }).keys.map((k) => k.kid);
    assert.ok(kids.includes(kid) && kids.includes(g.server.signer.kid));
  });
});
