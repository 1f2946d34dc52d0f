import assert from 'node:assert/strict';
import crypto, { createHmac, createPublicKey, generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';
import { SignJWT, jwtVerify, createLocalJWKSet, decodeJwt, decodeProtectedHeader } from 'jose';
import { ManualClock } from '../../../lib/clock/index.js';
import { OAuthError } from '../../../lib/errors/index.js';
import {
  AssertionPolicy,
  ASSERTION_TYPE,
  VerifiedAssertionCache,
  DEFAULT_ISSUER,
  TokenSigner,
  buildAssertion,
  generateSigningKeyPem,
  issueToken,
  jwksFromKeys,
  type IssueContext,
} from '../../../lib/token/index.js';
import type { AcquireTokenRequest } from '../../../gen/authmesh/token/v1/token.js';
import { demoWorkload, type DemoWorkload } from '../../support/memory-directory.js';

const AUD = (tenant: string): string => `${DEFAULT_ISSUER}/${tenant}/oauth2/v2.0/token`;

async function rejects(promise: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof OAuthError, `expected OAuthError, got ${String(err)}`);
    assert.equal(err.code, code);
    if (message) assert.match(err.message, message);
    return true;
  });
}

describe('issueToken', () => {
  let w: DemoWorkload;
  let clock: ManualClock;
  let ctx: IssueContext;
  let signer: TokenSigner;

  before(async () => {
    signer = await TokenSigner.fromPem(generateSigningKeyPem(), 'global');
  });

  beforeEach(async () => {
    w = await demoWorkload();
    clock = new ManualClock(Date.UTC(2026, 10, 26, 12));
    ctx = { directory: w.directory, signer, issuer: DEFAULT_ISSUER, lifetimeSeconds: 3600, refreshRatio: 0.5, assertions: new AssertionPolicy(), clock };
  });

  const request = (over: Partial<AcquireTokenRequest> = {}): AcquireTokenRequest => ({
    tenantId: w.tenantId,
    clientId: w.clientId,
    scope: `${w.resource}/.default`,
    clientAssertion: '',
    clientAssertionType: ASSERTION_TYPE,
    clientSecret: '',
    ...over,
  });

  /** Signs an assertion with arbitrary claims and header, for the negative cases. */
  const sign = async (
    claims: Record<string, unknown>,
    header: Record<string, unknown> = {},
    key: KeyObject = w.privateKey,
  ): Promise<string> => {
    const now = Math.floor(clock.now() / 1000);
    const body = { iss: w.clientId, sub: w.clientId, aud: AUD(w.tenantId), iat: now, exp: now + 600, jti: randomUUID(), ...claims };
    for (const [k, v] of Object.entries(body)) if (v === undefined) delete (body as Record<string, unknown>)[k];
    return new SignJWT(body).setProtectedHeader({ alg: 'ES256', kid: w.keyId, ...header }).sign(key);
  };

  const withAssertion = async (assertion: string) => issueToken(request({ clientAssertion: assertion }), ctx);

  describe('access token', () => {
    it('carries the RFC 9068 header and claims when the assertion is valid', async () => {
      const { response } = await withAssertion(await sign({}));
      assert.equal(response.tokenType, 'Bearer');
      assert.equal(response.expiresIn, 3600);
      assert.equal(response.refreshIn, 1800);
      assert.equal(response.faultDomain, 'global');
      const header = decodeProtectedHeader(response.accessToken);
      assert.equal(header.typ, 'at+jwt');
      assert.equal(header.kid, signer.kid);
      const jwks = createLocalJWKSet(JSON.parse(jwksFromKeys([{ kid: signer.kid, domain: 'global', publicJwkJson: JSON.stringify(signer.publicJwk), createdAtMs: 0, retiredAtMs: 0 }], clock.now(), 3_600_000)));
      const { payload } = await jwtVerify(response.accessToken, jwks, {
        issuer: `${DEFAULT_ISSUER}/${w.tenantId}/v2.0`,
        audience: w.resource,
        typ: 'at+jwt',
        currentDate: new Date(clock.now()),
      });
      assert.equal(payload.sub, 'object-1');
      assert.equal(payload.client_id, w.clientId);
      assert.equal(payload.azp, w.clientId);
      assert.equal(payload.tid, w.tenantId);
      assert.deepEqual(payload.roles, ['Blob.Read']);
      assert.equal(payload.exp! - payload.iat!, 3600);
      assert.equal(payload.nbf, payload.iat);
      assert.equal(typeof payload.jti, 'string');
      assert.equal(payload.fault_domain, 'global');
    });

    it('is issued for a client secret', async () => {
      const { response } = await issueToken(request({ clientSecret: w.secret, clientAssertionType: '' }), ctx);
      assert.ok(response.accessToken.split('.').length === 3);
    });

    it('is issued for an RSA (RS256) credential built by buildAssertion', async () => {
      const rsa = await demoWorkload('rsa');
      const built = await buildAssertion({ tenantId: rsa.tenantId, clientId: rsa.clientId, issuer: DEFAULT_ISSUER, privateKey: rsa.privateKey, nowMs: clock.now() });
      const { response } = await issueToken(
        { tenantId: rsa.tenantId, clientId: rsa.clientId, scope: `${rsa.resource}/.default`, clientAssertion: built.assertion, clientAssertionType: ASSERTION_TYPE, clientSecret: '' },
        { ...ctx, directory: rsa.directory },
      );
      assert.equal(response.tokenType, 'Bearer');
    });

    it('checks a fresh assertion\'s signature on libuv\'s thread pool (node:crypto verify with a callback) while the loop is busy, on the loop while it has room, a cached one not at all', async () => {
      const mod = crypto as unknown as { verify: (...args: unknown[]) => unknown };
      const real = mod.verify;
      const calls: string[] = [];
      mod.verify = (...args: unknown[]): unknown => {
        calls.push(typeof args[4] === 'function' ? 'pool' : 'calling thread');
        return real(...args);
      };
      let busy = true;
      const processLoad = signer.loopLoad;
      signer.loopLoad = { get busy() { return busy; } };
      try {
        ctx.assertionCache = new VerifiedAssertionCache();
        const assertion = await sign({});
        await withAssertion(assertion);
        await withAssertion(assertion);
        busy = false;
        await withAssertion(await sign({}));
      } finally {
        mod.verify = real;
        signer.loopLoad = processLoad;
      }
      assert.deepEqual(calls, ['pool', 'calling thread']);
    });

    it('accepts the same assertion again until it expires', async () => {
      const a = await sign({});
      await withAssertion(a);
      clock.advance(60_000);
      await withAssertion(a);
      clock.advance(900_000);
      await rejects(withAssertion(a), 'invalid_client', /expired/);
    });
  });

  describe('assertion rules', () => {
    it('refuses an iss different from the client id', async () => rejects(withAssertion(await sign({ iss: 'someone-else' })), 'invalid_client', /"iss"/));
    it('refuses a sub different from the client id', async () => rejects(withAssertion(await sign({ sub: 'someone-else' })), 'invalid_client', /"sub"/));
    it('refuses an aud that is not the tenant token endpoint', async () => rejects(withAssertion(await sign({ aud: 'https://elsewhere/token' })), 'invalid_client', /"aud"/));
    it('refuses an assertion without exp', async () => rejects(withAssertion(await sign({ exp: undefined })), 'invalid_client', /"exp"/));
    it('refuses an assertion without jti', async () => rejects(withAssertion(await sign({ jti: undefined })), 'invalid_client', /"jti"/));
    it('refuses an assertion living more than an hour by default', async () => {
      const now = Math.floor(clock.now() / 1000);
      await rejects(withAssertion(await sign({ iat: now, exp: now + 3601 })), 'invalid_client', /lifetime \(exp - iat\) is 3601 s, more than the 3600 s accepted/);
    });
    it('refuses an assertion expired beyond the 5 minute skew', async () => {
      const now = Math.floor(clock.now() / 1000);
      await rejects(withAssertion(await sign({ iat: now - 1000, exp: now - 301 })), 'invalid_client', /expired/);
    });
    it('accepts an assertion expired within the 5 minute skew', async () => {
      const now = Math.floor(clock.now() / 1000);
      const { response } = await withAssertion(await sign({ iat: now - 600, exp: now - 200 }));
      assert.equal(decodeJwt(response.accessToken).client_id, w.clientId);
      // One second past the skew the same assertion is refused: the skew, not leniency, let it in.
      clock.advance(101_000);
      await rejects(withAssertion(await sign({ iat: now - 600, exp: now - 200 })), 'invalid_client', /expired/);
    });
    it('refuses an nbf beyond the skew in the future', async () => {
      const now = Math.floor(clock.now() / 1000);
      await rejects(withAssertion(await sign({ nbf: now + 400, exp: now + 900 })), 'invalid_client', /"nbf"/);
    });
    it('refuses an iat beyond the skew in the future', async () => {
      const now = Math.floor(clock.now() / 1000);
      await rejects(withAssertion(await sign({ iat: now + 400, exp: now + 900 })), 'invalid_client', /"iat"/);
    });
    it('refuses alg none', async () => {
      const enc = (o: object): string => Buffer.from(JSON.stringify(o)).toString('base64url');
      const now = Math.floor(clock.now() / 1000);
      const unsigned = `${enc({ alg: 'none', kid: w.keyId })}.${enc({ iss: w.clientId, sub: w.clientId, aud: AUD(w.tenantId), exp: now + 60, jti: 'x' })}.`;
      await rejects(withAssertion(unsigned), 'invalid_client', /algorithm/);
    });
    it('refuses an HMAC assertion keyed with the public key (algorithm confusion)', async () => {
      const jwk = JSON.stringify(createPublicKey(w.privateKey).export({ format: 'jwk' }));
      const enc = (o: object): string => Buffer.from(JSON.stringify(o)).toString('base64url');
      const now = Math.floor(clock.now() / 1000);
      const input = `${enc({ alg: 'HS256', kid: w.keyId })}.${enc({ iss: w.clientId, sub: w.clientId, aud: AUD(w.tenantId), exp: now + 60, jti: 'x' })}`;
      const mac = createHmac('sha256', jwk).update(input).digest('base64url');
      await rejects(withAssertion(`${input}.${mac}`), 'invalid_client', /algorithm/);
    });
    it('refuses RS256 claimed over an EC credential', async () => {
      const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
      await rejects(withAssertion(await new SignJWT({ iss: w.clientId, sub: w.clientId, aud: AUD(w.tenantId), exp: Math.floor(clock.now() / 1000) + 60, jti: 'j' }).setProtectedHeader({ alg: 'RS256', kid: w.keyId }).sign(rsa)), 'invalid_client');
    });
    it('refuses an assertion signed by another key under a registered kid', async () => {
      const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
      await rejects(withAssertion(await sign({}, {}, other)), 'invalid_client', /signature/);
    });
    it('refuses an unknown kid', async () => rejects(withAssertion(await sign({}, { kid: 'not-a-key' })), 'invalid_client', /key id/));
    describe('without kid or x5t#S256 (RFC 7523 requires neither)', () => {
      const addCertificate = (over: { notBefore?: number; notAfter?: number } = {}): KeyObject => {
        const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
        w.identity.credentials.push({
          keyId: `extra-${w.identity.credentials.length}`, kind: w.identity.credentials[0]!.kind, publicJwkJson: JSON.stringify(pair.publicKey.export({ format: 'jwk' })),
          secretHash: '', notBefore: over.notBefore ?? 0, notAfter: over.notAfter ?? 0, x5tS256: '',
        });
        return pair.privateKey;
      };

      it('issues when the key of any valid certificate credential signed, the second of three included', async () => {
        const second = addCertificate();
        addCertificate();
        const { response } = await withAssertion(await sign({}, { kid: undefined }, second));
        assert.equal(decodeJwt(response.accessToken).client_id, w.clientId);
        const first = await withAssertion(await sign({}, { kid: undefined }));
        assert.equal(decodeJwt(first.response.accessToken).client_id, w.clientId);
      });

      it('refuses when no credential of the client signed it', async () => {
        addCertificate();
        const stranger = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
        await rejects(withAssertion(await sign({}, { kid: undefined }, stranger)), 'invalid_client', /verifies with none/);
      });

      it('refuses when only an expired credential signed it', async () => {
        const expired = addCertificate({ notAfter: Math.floor(clock.now() / 1000) - 1 });
        await rejects(withAssertion(await sign({}, { kid: undefined }, expired)), 'invalid_client', /verifies with none/);
      });

      it('applies the same claim rules once a key verified the signature', async () => {
        const second = addCertificate();
        await rejects(withAssertion(await sign({ aud: 'https://elsewhere/token' }, { kid: undefined }, second)), 'invalid_client', /"aud"/);
      });

      it('refuses past 10 valid certificate credentials, asking for the kid header', async () => {
        let last: KeyObject = w.privateKey;
        for (let i = 0; i < 10; i += 1) last = addCertificate();
        await rejects(withAssertion(await sign({}, { kid: undefined }, last)), 'invalid_client', /more than 10 valid certificate credentials: send the kid header/);
        // With the kid the same key is found directly.
        const kid = w.identity.credentials.at(-1)!.keyId;
        const { response } = await withAssertion(await sign({}, { kid }, last));
        assert.equal(decodeJwt(response.accessToken).client_id, w.clientId);
      });
    });
    it('refuses garbage that is not a JWT', async () => rejects(withAssertion('not.a.jwt'), 'invalid_client', /well-formed/));
    it('refuses a wrong client_assertion_type', async () =>
      rejects(issueToken(request({ clientAssertion: await sign({}), clientAssertionType: 'urn:other' }), ctx), 'invalid_request', /client_assertion_type/));
    it('refuses an expired credential', async () => {
      w.identity.credentials[0]!.notAfter = Math.floor(clock.now() / 1000) - 1;
      await rejects(withAssertion(await sign({})), 'invalid_client', /credential has expired/);
    });
    it('selects the credential by x5t#S256 when the certificate thumbprint was registered', async () => {
      // Two certificate credentials: the thumbprint must pick the second, whose key signed.
      const second = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      w.identity.credentials.push({
        keyId: 'second-key', kind: w.identity.credentials[0]!.kind, publicJwkJson: JSON.stringify(second.publicKey.export({ format: 'jwk' })),
        secretHash: '', notBefore: 0, notAfter: 0, x5tS256: 'thumb',
      });
      const { response } = await withAssertion(await sign({}, { kid: undefined, 'x5t#S256': 'thumb' }, second.privateKey));
      assert.equal(decodeJwt(response.accessToken).client_id, w.clientId);
      // The first credential's key under the second's thumbprint does not verify.
      await rejects(withAssertion(await sign({}, { kid: undefined, 'x5t#S256': 'thumb' })), 'invalid_client', /signature/);
    });
  });

  describe('client, posture and scope', () => {
    it('refuses an unknown tenant with invalid_request', async () => rejects(issueToken(request({ tenantId: 'nope', clientSecret: w.secret }), ctx), 'invalid_request', /tenant/));
    it('refuses an unknown client with invalid_client', async () => rejects(issueToken(request({ clientId: 'nope', clientSecret: w.secret }), ctx), 'invalid_client', /unknown client/));
    it('refuses a wrong secret', async () => rejects(issueToken(request({ clientSecret: 'ams_wrong' }), ctx), 'invalid_client', /secret/));
    it('refuses a disabled app with unauthorized_client', async () => {
      w.identity.enabled = false;
      await rejects(withAssertion(await sign({})), 'unauthorized_client', /disabled/);
    });
    it('refuses a client without a role on the resource', async () => {
      w.identity.grants = [];
      await rejects(withAssertion(await sign({})), 'unauthorized_client', /no role/);
    });
    it('refuses an unknown resource with invalid_scope', async () =>
      rejects(issueToken(request({ scope: 'https://unknown.example/.default', clientSecret: w.secret }), ctx), 'invalid_scope', /unknown resource/));
    it('refuses a scope without /.default', async () => rejects(issueToken(request({ scope: w.resource, clientSecret: w.secret }), ctx), 'invalid_scope'));
    it('refuses two scopes', async () => rejects(issueToken(request({ scope: `${w.resource}/.default other/.default`, clientSecret: w.secret }), ctx), 'invalid_scope'));
    it('refuses missing fields with invalid_request', async () => {
      await rejects(issueToken(request({ tenantId: '', clientSecret: w.secret }), ctx), 'invalid_request', /tenant_id/);
      await rejects(issueToken(request({ clientId: '', clientSecret: w.secret }), ctx), 'invalid_request', /client_id/);
      await rejects(issueToken(request({ scope: '', clientSecret: w.secret }), ctx), 'invalid_request', /scope/);
      await rejects(issueToken(request({}), ctx), 'invalid_request', /required/);
      await rejects(issueToken(request({ clientSecret: 'x', clientAssertion: 'y' }), ctx), 'invalid_request', /not both/);
    });
    it('never echoes a secret or assertion in an error message', async () => {
      const secret = 'ams_super-secret-do-not-print';
      await assert.rejects(issueToken(request({ clientSecret: secret }), ctx), (err: Error) => !err.message.includes(secret));
    });
  });

  describe('jwksFromKeys', () => {
    it('keeps a retired key until the longest token it signed has expired', () => {
      const key = { kid: 'k1', domain: 'global', publicJwkJson: JSON.stringify(signer.publicJwk), createdAtMs: 0, retiredAtMs: 1_000 };
      assert.equal(JSON.parse(jwksFromKeys([key], 1_000 + 3_599_999, 3_600_000)).keys.length, 1);
      assert.equal(JSON.parse(jwksFromKeys([key], 1_000 + 3_600_000, 3_600_000)).keys.length, 0);
    });
  });

  describe('assertion lifetime cap and replay refusal', () => {
    const now = (): number => Math.floor(clock.now() / 1000);
    const refuseReuse = (where: 'app' | 'tenant'): void => {
      if (where === 'app') w.directory.put({ ...w.identity, refuseAssertionReuse: true });
      else w.directory.tenants.set(w.tenantId, { ...w.directory.tenants.get(w.tenantId)!, refuseAssertionReuse: true });
    };

    it('refuses with invalid_client an assertion whose exp - iat exceeds the configured cap, and accepts one at the cap', async () => {
      ctx.assertions = new AssertionPolicy({ maxLifetimeSeconds: 300 });
      await rejects(withAssertion(await sign({ iat: now(), exp: now() + 301 })), 'invalid_client', /client_assertion lifetime \(exp - iat\) is 301 s, more than the 300 s accepted/);
      await withAssertion(await sign({ iat: now(), exp: now() + 300 }));
    });

    it('measures exp - now when the assertion has no iat', async () => {
      ctx.assertions = new AssertionPolicy({ maxLifetimeSeconds: 300 });
      await rejects(withAssertion(await sign({ iat: undefined, exp: now() + 400 })), 'invalid_client', /lifetime \(exp - now\) is 400 s, more than the 300 s accepted/);
      await withAssertion(await sign({ iat: undefined, exp: now() + 290 }));
    });

    it('accepts the same assertion again until exp when reuse is not refused', async () => {
      const assertion = await sign({});
      await withAssertion(assertion);
      clock.advance(60_000);
      await withAssertion(assertion);
      assert.equal(ctx.assertions.remembered, 0, 'no ids are kept for clients that allow reuse');
    });

    for (const where of ['app', 'tenant'] as const) {
      it(`refuses the second use of a jti with invalid_client when the ${where} refuses assertion reuse`, async () => {
        refuseReuse(where);
        const assertion = await sign({});
        await withAssertion(assertion);
        await rejects(withAssertion(assertion), 'invalid_client', /already used \(its jti was seen before\)/);
        await withAssertion(await sign({}));
      });
    }

    it('refuses a reused jti even when the verified-assertion cache skips the signature check', async () => {
      refuseReuse('app');
      ctx.assertionCache = new VerifiedAssertionCache();
      const assertion = await sign({});
      await withAssertion(assertion);
      await rejects(withAssertion(assertion), 'invalid_client', /already used/);
    });

    it('does not use up the jti of a request refused for another reason', async () => {
      refuseReuse('app');
      const assertion = await sign({});
      await rejects(issueToken(request({ clientAssertion: assertion, scope: 'https://unknown.example/.default' }), ctx), 'invalid_scope');
      await withAssertion(assertion);
    });
  });
});
