import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { ManualClock } from '../../../lib/clock/index.js';
import { OAuthError } from '../../../lib/errors/index.js';
import type { DirectoryView } from '../../../lib/directory/index.js';
import {
  AssertionPolicy,
  ASSERTION_TYPE,
  DEFAULT_ISSUER,
  TokenSigner,
  VerifiedAssertionCache,
  assertionAudience,
  buildAssertion,
  generateSigningKeyPem,
  issueToken,
  type IssueContext,
} from '../../../lib/token/index.js';
import type { AcquireTokenRequest } from '../../../gen/authmesh/token/v1/token.js';
import { DirectoryCache } from '../../../services/regional/directory-cache.js';
import { demoWorkload, type DemoWorkload } from '../../support/memory-directory.js';

async function rejects(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof OAuthError, `expected OAuthError, got ${String(err)}`);
    assert.equal(err.code, code);
    return true;
  });
}

describe('VerifiedAssertionCache', () => {
  let w: DemoWorkload;
  let clock: ManualClock;
  let cache: VerifiedAssertionCache;
  let ctx: IssueContext;
  let signer: TokenSigner;
  let assertion: string;

  before(async () => {
    signer = await TokenSigner.fromPem(generateSigningKeyPem(), 'regional/eastus');
  });

  beforeEach(async () => {
    w = await demoWorkload();
    clock = new ManualClock(Date.UTC(2026, 10, 26, 12));
    cache = new VerifiedAssertionCache();
    ctx = { directory: w.directory, signer, issuer: DEFAULT_ISSUER, lifetimeSeconds: 3600, refreshRatio: 0.5, assertions: new AssertionPolicy(), clock, assertionCache: cache };
    ({ assertion } = await buildAssertion({ tenantId: w.tenantId, clientId: w.clientId, issuer: DEFAULT_ISSUER, privateKey: w.privateKey, lifetimeSeconds: 600, nowMs: clock.now() }));
  });

  const request = (over: Partial<AcquireTokenRequest> = {}): AcquireTokenRequest => ({
    tenantId: w.tenantId,
    clientId: w.clientId,
    scope: `${w.resource}/.default`,
    clientAssertion: assertion,
    clientAssertionType: ASSERTION_TYPE,
    clientSecret: '',
    ...over,
  });

  it('remembers a verified assertion for the identity it was verified against', async () => {
    await issueToken(request(), ctx);
    assert.equal(cache.size, 1);
    assert.ok(cache.has(assertion, w.identity, Math.floor(clock.now() / 1000)));
    const again = await issueToken(request(), ctx);
    assert.equal(again.response.faultDomain, 'regional/eastus');
  });

  it('refuses at once when the application is disabled after the assertion was cached', async () => {
    await issueToken(request(), ctx);
    w.directory.put({ ...w.identity, enabled: false });
    await rejects(issueToken(request(), ctx), 'unauthorized_client');
  });

  it('refuses at once when the credential that signed the assertion is removed', async () => {
    await issueToken(request(), ctx);
    w.directory.put({ ...w.identity, credentials: w.identity.credentials.filter((c) => c.keyId !== w.keyId) });
    await rejects(issueToken(request(), ctx), 'invalid_client');
  });

  it('refuses at once when the role is revoked', async () => {
    await issueToken(request(), ctx);
    w.directory.put({ ...w.identity, grants: [] });
    await rejects(issueToken(request(), ctx), 'unauthorized_client');
  });

  it('refuses once the credential reaches its notAfter even though the identity object is unchanged', async () => {
    const notAfter = Math.floor(clock.now() / 1000) + 60;
    const identity = { ...w.identity, credentials: w.identity.credentials.map((c) => (c.keyId === w.keyId ? { ...c, notAfter } : c)) };
    w.directory.put(identity);
    await issueToken(request(), ctx);
    clock.advance(61_000);
    await rejects(issueToken(request(), ctx), 'invalid_client');
  });

  it('remembers a kid-less assertion by the credential that verified it, until that credential reaches its notAfter', async () => {
    const now = Math.floor(clock.now() / 1000);
    const kidless = await new SignJWT({ jti: randomUUID() })
      .setProtectedHeader({ alg: 'ES256' }).setIssuer(w.clientId).setSubject(w.clientId).setAudience(assertionAudience(DEFAULT_ISSUER, w.tenantId))
      .setIssuedAt(now).setExpirationTime(now + 600).sign(w.privateKey);
    const identity = { ...w.identity, credentials: w.identity.credentials.map((c) => (c.keyId === w.keyId ? { ...c, notAfter: now + 60 } : c)) };
    w.directory.put(identity);
    await issueToken(request({ clientAssertion: kidless }), ctx);
    assert.ok(cache.has(kidless, identity, now), 'the kid-less assertion was not remembered');
    clock.advance(61_000);
    assert.equal(cache.has(kidless, identity, now + 61), false);
    await rejects(issueToken(request({ clientAssertion: kidless }), ctx), 'invalid_client');
  });

  it('refuses once the assertion has expired', async () => {
    await issueToken(request(), ctx);
    clock.advance(601_000 + 5 * 60_000);
    await rejects(issueToken(request(), ctx), 'invalid_client');
  });

  it('does not let another client reuse a cached assertion', async () => {
    await issueToken(request(), ctx);
    w.directory.put({ ...w.identity, clientId: 'client-2', objectId: 'object-2' });
    await rejects(issueToken(request({ clientId: 'client-2' }), ctx), 'invalid_client');
  });

  it('drops the oldest assertion past its capacity', () => {
    const small = new VerifiedAssertionCache({ capacity: 1 });
    small.remember(assertion, w.identity);
    small.remember(`${assertion}x`, w.identity);
    assert.equal(small.size, 1);
    assert.equal(small.has(assertion, w.identity, Math.floor(clock.now() / 1000)), false);
  });

  describe('with the regional directory cache', () => {
    it('refuses at once when the watch applies a disable for a cached client', async () => {
      const directoryCache = new DirectoryCache({ capacity: 10, clock });
      const tenant = (await w.directory.lookup(w.tenantId, w.clientId)).tenant!;
      directoryCache.applySnapshot({ revision: 1, headRevision: 1, tenants: [tenant], identities: [w.identity], signingKeys: [] } as never);
      const view: DirectoryView = {
        async lookup(tenantId, clientId) {
          const hit = directoryCache.read(tenantId, clientId)!;
          return { tenant: hit.tenant, identity: hit.entry.identity, dataAgeMs: hit.dataAgeMs };
        },
      };
      const regionalCtx = { ...ctx, directory: view };
      await issueToken(request(), regionalCtx);
      await issueToken(request(), regionalCtx);
      directoryCache.applyChange({ revision: 2, headRevision: 2, identity: { ...w.identity, enabled: false } } as never);
      await rejects(issueToken(request(), regionalCtx), 'unauthorized_client');
      directoryCache.applyChange({ revision: 3, headRevision: 3, identity: { ...w.identity, credentials: [] } } as never);
      await rejects(issueToken(request(), regionalCtx), 'invalid_client');
    });
  });
});
