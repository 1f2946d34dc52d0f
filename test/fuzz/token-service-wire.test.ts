import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import fc from 'fast-check';
import type { AcquireTokenRequest } from '../../gen/authmesh/token/v1/token.js';
import {
  attackerKeys,
  edgeNumber,
  fuzzParams,
  fuzzTimeout,
  hmacJws,
  hostileJson,
  hostileKid,
  hostileString,
  publicKeyForms,
  randomJwtText,
  signedJws,
  unsignedJws,
} from './arbitraries.js';
import {
  acquireOnWire,
  assertRefused,
  assertStillServing,
  goodAssertion,
  goodClaims,
  startFuzzTarget,
  tokenRequest,
  type FuzzTarget,
} from './wire-support.js';

describe('fuzz: global TokenService over gRPC', function () {
  this.timeout(fuzzTimeout(200, 60));
  let t: FuzzTarget;

  before(async () => {
    t = await startFuzzTarget();
  });

  after(async () => {
    await t?.close();
  });

  afterEach(async () => {
    await assertStillServing(t);
  });

  it('issues tokens for the good assertion and secret (the properties below are not vacuous)', async () => {
    await assertStillServing(t);
  });

  it('refuses any hostile value in any AcquireToken field with the status the OAuth error maps to', async () => {
    const field = fc.constantFrom<keyof AcquireTokenRequest>('tenantId', 'clientId', 'scope', 'clientAssertionType', 'clientSecret', 'clientAssertion');
    await fc.assert(
      fc.asyncProperty(field, hostileString, fc.boolean(), async (name, value, useSecret) => {
        const good = useSecret ? tokenRequest(t, { clientSecret: t.secret, clientAssertionType: '' }) : tokenRequest(t, { clientAssertion: goodAssertion(t) });
        fc.pre(value !== good[name] && !(name === 'clientAssertionType' && value === '' && good.clientAssertion !== '') && !(name === 'clientAssertionType' && !useSecret && value === good.clientAssertionType));
        // The assertion field replaced while a good secret is set, or the reverse, is also "both" or "neither".
        assertRefused(await acquireOnWire(t, { ...good, [name]: value }));
      }),
      fuzzParams(200),
    );
  });

  it('refuses random JWTs, algorithm confusion and kid injection with invalid_client (or invalid_request for size)', async () => {
    const forms = publicKeyForms(createPublicKey(t.privateKey));
    const assertion = fc.oneof(
      randomJwtText.filter((s) => s !== ''),
      fc.tuple(fc.constantFrom('HS256', 'HS384', 'HS512'), fc.integer({ min: 0, max: forms.length - 1 })).map(([alg, i]) => hmacJws({ kid: t.keyId }, goodClaims(t), forms[i]!, alg)),
      fc.constantFrom('none', 'NONE', 'None').map((alg) => unsignedJws({ kid: t.keyId }, goodClaims(t), alg)),
      fc.constant(null).map(() => signedJws({ alg: 'RS256', kid: t.keyId }, goodClaims(t), attackerKeys().rsa, 'RS256')),
      hostileKid.map((kid) => signedJws({ alg: 'ES256', kid }, goodClaims(t), t.privateKey)),
      hostileKid.map((kid) => signedJws({ alg: 'ES256', kid, 'x5t#S256': kid }, goodClaims(t), attackerKeys().ec)),
      fc.tuple(fc.constantFrom('iss', 'sub', 'aud', 'jti', 'exp', 'iat', 'nbf'), hostileJson).map(([name, value]) => signedJws({ alg: 'ES256', kid: t.keyId }, goodClaims(t, { [name]: value }), attackerKeys().ec)),
      fc.tuple(fc.constantFrom('exp', 'iat', 'nbf'), edgeNumber).filter(([name, v]) => !(name === 'exp' && Math.abs(v - Date.now() / 1000) < 4000)).map(([name, value]) => signedJws({ alg: 'ES256', kid: t.keyId }, goodClaims(t, { [name]: value, exp: name === 'exp' ? value : Math.floor(Date.now() / 1000) + 7200 }), t.privateKey)),
    );
    await fc.assert(
      fc.asyncProperty(assertion, async (a) => {
        assertRefused(await acquireOnWire(t, tokenRequest(t, { clientAssertion: a })), ['invalid_client', 'invalid_request']);
      }),
      fuzzParams(200),
    );
  });

  it('answers RESOURCE_EXHAUSTED without decoding when a field is larger than the request limit', async () => {
    for (const name of ['tenantId', 'clientAssertion', 'clientSecret', 'scope'] as const) {
      const out = await acquireOnWire(t, tokenRequest(t, { clientSecret: t.secret, [name]: 'x'.repeat(70 * 1024) }));
      assert.equal(out.error?.code, status.RESOURCE_EXHAUSTED, `${name}: ${out.error?.details}`);
    }
  });

  it('refuses a client_assertion over 16 KiB with invalid_request', async () => {
    const big = signedJws({ alg: 'ES256', kid: t.keyId }, goodClaims(t, { pad: 'p'.repeat(20_000) }), t.privateKey);
    assertRefused(await acquireOnWire(t, tokenRequest(t, { clientAssertion: big })), ['invalid_request']);
  });
});
