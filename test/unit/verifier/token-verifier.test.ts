import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, sign, type KeyObject } from 'node:crypto';
import type { JSONWebKeySet, JWK } from 'jose';
import { ManualClock } from '../../../lib/clock/index.js';
import { generateSigningKeyPem, TokenSigner } from '../../../lib/token/index.js';
import { KeySetCache, TokenClaimError, TokenVerifier, VerifierError, type VerifierErrorCode } from '../../../verifier/index.js';

const TENANT = 'tenant-1';
const RESOURCE = 'https://storage.authmesh.local';
const ISS = `https://login.authmesh.local/${TENANT}/v2.0`;
const b64 = (v: object): string => Buffer.from(JSON.stringify(v)).toString('base64url');

/** Signs a JWT by hand, so headers can lie (forged kid, alg none). */
function handSigned(header: object, claims: object, key?: KeyObject): string {
  const input = `${b64(header)}.${b64(claims)}`;
  if (key === undefined) return `${input}.`;
  return `${input}.${sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
}

describe('TokenVerifier', () => {
  let signer: TokenSigner;
  let other: TokenSigner;
  let otherKey: KeyObject;
  let clock: ManualClock;
  let published: JSONWebKeySet;
  let fetches: number;
  let sourceDown: boolean;

  const claims = (over: Record<string, unknown> = {}): Record<string, unknown> => {
    const now = Math.floor(clock.now() / 1000);
    return { iss: ISS, aud: RESOURCE, sub: 'obj-1', client_id: 'client-1', azp: 'client-1', tid: TENANT, roles: ['Blob.Read'], iat: now, nbf: now, exp: now + 3600, jti: 'j1', fault_domain: 'regional/eastus', ...over };
  };

  const verifier = (): TokenVerifier =>
    new TokenVerifier({
      keys: new KeySetCache({
        clock,
        refetchIntervalMs: 30_000,
        source: () => {
          fetches += 1;
          return sourceDown ? Promise.reject(new Error('gateway down')) : Promise.resolve(published);
        },
      }),
      tenantId: TENANT, audience: RESOURCE, clock, clockToleranceSeconds: 60,
    });

  async function refused(v: TokenVerifier, token: string, code: VerifierErrorCode, roles?: string[]): Promise<void> {
    await assert.rejects(v.verify(token, roles === undefined ? {} : { requiredRoles: roles }), (err: unknown) => {
      assert.ok(err instanceof VerifierError, String(err));
      assert.equal(err.code, code, err.message);
      return true;
    });
  }

  before(async () => {
    const pem = generateSigningKeyPem();
    signer = await TokenSigner.fromPem(pem, 'regional/eastus');
    const otherPem = generateSigningKeyPem();
    other = await TokenSigner.fromPem(otherPem, 'global');
    otherKey = createPrivateKey(otherPem);
  });

  beforeEach(() => {
    clock = new ManualClock();
    published = { keys: [signer.publicJwk as JWK] };
    fetches = 0;
    sourceDown = false;
  });

  it('accepts a token with the role and reports its client and fault domain', async () => {
    const ok = await verifier().verify(signer.sign(claims()), { requiredRoles: ['Blob.Read'] });
    assert.equal(ok.clientId, 'client-1');
    assert.equal(ok.tenantId, TENANT);
    assert.equal(ok.faultDomain, 'regional/eastus');
    assert.deepEqual(ok.roles, ['Blob.Read']);
  });

  it('refuses with ERR_TOKEN_AUDIENCE when aud is another resource', async () => {
    await refused(verifier(), signer.sign(claims({ aud: 'https://orders.example' })), 'ERR_TOKEN_AUDIENCE');
  });

  it('refuses with ERR_TOKEN_ISSUER when iss names another tenant or issuer', async () => {
    const v = verifier();
    await refused(v, signer.sign(claims({ iss: 'https://login.authmesh.local/tenant-2/v2.0' })), 'ERR_TOKEN_ISSUER');
    await refused(v, signer.sign(claims({ iss: `https://evil.example/${TENANT}/v2.0` })), 'ERR_TOKEN_ISSUER');
  });

  it('refuses with ERR_TOKEN_CLAIM on tid when tid names another tenant than iss, even one the verifier accepts', async () => {
    const both = new TokenVerifier({ keys: verifier().keys, tenantId: [TENANT, 'tenant-2'], audience: RESOURCE, clock });
    for (const v of [verifier(), both]) {
      await assert.rejects(v.verify(signer.sign(claims({ tid: 'tenant-2' }))), (err: unknown) => {
        assert.ok(err instanceof TokenClaimError, String(err));
        assert.equal(err.code, 'ERR_TOKEN_CLAIM');
        assert.equal(err.claim, 'tid');
        assert.match(err.message, /tid "tenant-2" is not the tenant of iss \(tenant-1\)/);
        return true;
      });
    }
    const ok = await both.verify(signer.sign(claims({ iss: 'https://login.authmesh.local/tenant-2/v2.0', tid: 'tenant-2' })));
    assert.equal(ok.tenantId, 'tenant-2');
  });

  it('refuses with ERR_TOKEN_EXPIRED past exp plus the skew, and accepts inside the skew', async () => {
    const v = verifier();
    const token = signer.sign(claims());
    clock.advance((3600 + 59) * 1000);
    await v.verify(token);
    clock.advance(2000);
    await refused(v, token, 'ERR_TOKEN_EXPIRED');
  });

  it('refuses with ERR_TOKEN_NOT_YET_VALID when nbf is beyond the skew', async () => {
    const now = Math.floor(clock.now() / 1000);
    await refused(verifier(), signer.sign(claims({ nbf: now + 120 })), 'ERR_TOKEN_NOT_YET_VALID');
  });

  it('refuses with ERR_TOKEN_ALGORITHM when the header says alg none', async () => {
    await refused(verifier(), handSigned({ alg: 'none', typ: 'at+jwt', kid: signer.kid }, claims()), 'ERR_TOKEN_ALGORITHM');
  });

  it('refuses with ERR_TOKEN_TYPE when typ is not at+jwt (an ID token or assertion)', async () => {
    const pk = createPrivateKey(generateSigningKeyPem());
    const jwk = { ...(createPublicKey(pk).export({ format: 'jwk' }) as JWK), kid: 'k-typ', alg: 'ES256', use: 'sig' };
    published = { keys: [jwk] };
    await refused(verifier(), handSigned({ alg: 'ES256', typ: 'JWT', kid: 'k-typ' }, claims(), pk), 'ERR_TOKEN_TYPE');
  });

  it('refuses with ERR_TOKEN_ROLE_MISSING when a required role is absent', async () => {
    await refused(verifier(), signer.sign(claims({ roles: ['Blob.Write'] })), 'ERR_TOKEN_ROLE_MISSING', ['Blob.Read']);
  });

  it('refuses with ERR_TOKEN_SIGNATURE when a key not in the set signed under a published kid', async () => {
    await refused(verifier(), handSigned({ alg: 'ES256', typ: 'at+jwt', kid: signer.kid }, claims(), otherKey), 'ERR_TOKEN_SIGNATURE');
  });

  it('refetches the set once for an unknown kid, then refuses with ERR_TOKEN_UNKNOWN_KEY without refetching again inside the interval', async () => {
    const v = verifier();
    await v.verify(signer.sign(claims()));
    assert.equal(fetches, 1);
    clock.advance(31_000);
    const foreign = other.sign(claims());
    await refused(v, foreign, 'ERR_TOKEN_UNKNOWN_KEY');
    assert.equal(fetches, 2, 'one refetch for the unknown kid');
    await refused(v, foreign, 'ERR_TOKEN_UNKNOWN_KEY');
    await refused(v, other.sign(claims({ jti: 'j2' })), 'ERR_TOKEN_UNKNOWN_KEY');
    assert.equal(fetches, 2, 'no refetch inside the interval');
  });

  it('accepts a token from a newly published key after one refetch (key rollover)', async () => {
    const v = verifier();
    await v.verify(signer.sign(claims()));
    clock.advance(31_000);
    published = { keys: [signer.publicJwk as JWK, other.publicJwk as JWK] };
    const ok = await v.verify(other.sign(claims()));
    assert.equal(ok.clientId, 'client-1');
    assert.equal(fetches, 2);
  });

  it('keeps verifying with the cached set when a refetch fails, and says ERR_JWKS_UNAVAILABLE when it never had one', async () => {
    const v = verifier();
    await v.verify(signer.sign(claims()));
    sourceDown = true;
    clock.advance(700_000);
    await v.verify(signer.sign(claims()));
    assert.equal(fetches, 2, 'tried to refresh the stale set');
    await refused(verifier(), signer.sign(claims()), 'ERR_JWKS_UNAVAILABLE');
  });

  it('refuses with ERR_TOKEN_MALFORMED when the token is not a JWT', async () => {
    await refused(verifier(), 'not-a-token', 'ERR_TOKEN_MALFORMED');
  });
});

describe('KeySetCache', () => {
  it('shares one fetch among concurrent first verifications', async () => {
    const signer = await TokenSigner.fromPem(generateSigningKeyPem(), 'global');
    let fetches = 0;
    const keys = new KeySetCache({ source: async () => ((fetches += 1), { keys: [signer.publicJwk as JWK] }) });
    const v = new TokenVerifier({ keys, tenantId: TENANT, audience: RESOURCE });
    const now = Math.floor(Date.now() / 1000);
    const token = signer.sign({ iss: ISS, aud: RESOURCE, sub: 's', client_id: 'c', tid: TENANT, iat: now, exp: now + 60 });
    await Promise.all(Array.from({ length: 20 }, () => v.verify(token)));
    assert.equal(fetches, 1);
  });
});

