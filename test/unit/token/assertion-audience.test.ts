import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { SignJWT, decodeJwt } from 'jose';
import { ManualClock } from '../../../lib/clock/index.js';
import { OAuthError } from '../../../lib/errors/index.js';
import { ASSERTION_TYPE, AssertionPolicy, DEFAULT_ISSUER, TokenSigner, assertionAudience, generateSigningKeyPem, issueToken, tokenIssuer, type IssueContext } from '../../../lib/token/index.js';
import { demoWorkload, type DemoWorkload } from '../../support/memory-directory.js';

describe('assertion audience (RFC 7523 section 3)', () => {
  let w: DemoWorkload;
  let ctx: IssueContext;
  let clock: ManualClock;

  before(async () => {
    w = await demoWorkload();
    clock = new ManualClock(Date.UTC(2026, 10, 26, 12));
    ctx = { directory: w.directory, signer: await TokenSigner.fromPem(generateSigningKeyPem(), 'global'), issuer: DEFAULT_ISSUER, lifetimeSeconds: 3600, refreshRatio: 0.5, assertions: new AssertionPolicy(), clock };
  });

  const withAud = async (aud: string | string[]): Promise<Awaited<ReturnType<typeof issueToken>>> => {
    const now = Math.floor(clock.now() / 1000);
    const assertion = await new SignJWT({ iss: w.clientId, sub: w.clientId, aud, iat: now, exp: now + 300, jti: randomUUID() })
      .setProtectedHeader({ alg: 'ES256', kid: w.keyId })
      .sign(w.privateKey);
    return issueToken(
      { tenantId: w.tenantId, clientId: w.clientId, scope: `${w.resource}/.default`, clientAssertion: assertion, clientAssertionType: ASSERTION_TYPE, clientSecret: '' },
      ctx,
    );
  };

  it('issues a token when aud is the tenant token endpoint', async () => {
    assert.equal(decodeJwt((await withAud(assertionAudience(DEFAULT_ISSUER, w.tenantId))).response.accessToken).client_id, w.clientId);
  });

  it('issues a token when aud is the tenant issuer identifier, as openid-client sends it', async () => {
    assert.equal(decodeJwt((await withAud(tokenIssuer(DEFAULT_ISSUER, w.tenantId))).response.accessToken).client_id, w.clientId);
  });

  it('refuses with invalid_client when aud is the issuer identifier of another tenant', async () => {
    await assert.rejects(withAud(tokenIssuer(DEFAULT_ISSUER, 'other-tenant')), (e: unknown) => e instanceof OAuthError && e.code === 'invalid_client');
  });

  it('refuses with invalid_client when aud is the bare issuer base URL', async () => {
    await assert.rejects(withAud(DEFAULT_ISSUER), (e: unknown) => e instanceof OAuthError && e.code === 'invalid_client');
  });
});
