import assert from 'node:assert/strict';
import crypto, { constants, generateKeyPairSync, randomUUID, sign, type KeyObject } from 'node:crypto';
import type { Credential, Identity } from '../../../gen/authmesh/directory/v1/directory.js';
import { ManualClock } from '../../../lib/clock/index.js';
import { OAuthError } from '../../../lib/errors/index.js';
import { DEFAULT_ISSUER, verifyAssertion, type AssertionContext } from '../../../lib/token/index.js';
import { checkAssertion, checkAssertionAsync } from '../../../lib/token/verify-assertion.js';
import { demoWorkload, type DemoWorkload } from '../../support/memory-directory.js';

const b64 = (value: unknown): string => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

/** A compact JWS signed with raw node:crypto, so any header, payload and signature form can be built. */
function jws(header: Record<string, unknown>, payload: Record<string, unknown>, key: KeyObject, form: 'p1363' | 'der' | 'pss20' = 'p1363'): string {
  const input = `${b64(header)}.${b64(payload)}`;
  const alg = header.alg;
  let signature: Buffer;
  if (alg === 'ES256') signature = sign('sha256', Buffer.from(input), { key, dsaEncoding: form === 'der' ? 'der' : 'ieee-p1363' });
  else if (alg === 'PS256') signature = sign('sha256', Buffer.from(input), { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: form === 'pss20' ? 20 : 32 });
  else signature = sign('sha256', Buffer.from(input), { key, padding: constants.RSA_PKCS1_PADDING });
  return `${input}.${signature.toString('base64url')}`;
}

type Verify = (assertion: string, identity: Identity, ctx: AssertionContext) => Promise<Credential>;

/** The same checks, whichever thread runs the signature check: verifyAssertion and checkAssertion on the calling one, checkAssertionAsync on libuv's pool. */
const forms: [string, Verify][] = [
  ['verifyAssertion', verifyAssertion],
  ['checkAssertion (signature on the calling thread)', async (a, i, c) => checkAssertion(a, i, c).credential],
  ['checkAssertionAsync (signature on libuv\'s thread pool)', async (a, i, c) => (await checkAssertionAsync(a, i, c)).credential],
];

for (const [form, verifyAssertion] of forms) describe(`${form}: node:crypto signature and claim checks`, () => {
  let ec: DemoWorkload;
  let rsa: DemoWorkload;
  let clock: ManualClock;
  let ctx: AssertionContext;
  const otherRsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;

  before(async () => {
    ec = await demoWorkload('ec');
    rsa = await demoWorkload('rsa');
  });

  beforeEach(() => {
    clock = new ManualClock(Date.UTC(2026, 10, 26, 12));
    ctx = { issuer: DEFAULT_ISSUER, clock };
  });

  const now = (): number => Math.floor(clock.now() / 1000);
  const claims = (w: DemoWorkload, over: Record<string, unknown> = {}): Record<string, unknown> => {
    const body: Record<string, unknown> = { iss: w.clientId, sub: w.clientId, aud: `${DEFAULT_ISSUER}/${w.tenantId}/oauth2/v2.0/token`, iat: now(), exp: now() + 600, jti: randomUUID(), ...over };
    for (const [k, v] of Object.entries(body)) if (v === undefined) delete body[k];
    return body;
  };
  const es = (over: Record<string, unknown> = {}, header: Record<string, unknown> = {}, form: 'p1363' | 'der' = 'p1363'): string =>
    jws({ alg: 'ES256', kid: ec.keyId, ...header }, claims(ec, over), ec.privateKey, form);

  async function refused(assertion: string, identity: DemoWorkload, message: RegExp): Promise<void> {
    await assert.rejects(verifyAssertion(assertion, identity.identity, ctx), (err: unknown) => {
      assert.ok(err instanceof OAuthError, `expected OAuthError, got ${String(err)}`);
      assert.equal(err.code, 'invalid_client');
      assert.match(err.message, message);
      return true;
    });
  }
  const accepted = async (assertion: string, w: DemoWorkload): Promise<void> => {
    const credential = await verifyAssertion(assertion, w.identity, ctx);
    assert.equal(credential.keyId, w.keyId);
  };

  it('accepts ES256 (r || s), RS256 and PS256 (salt length 32) signed by the named credential', async () => {
    await accepted(es(), ec);
    await accepted(jws({ alg: 'RS256', kid: rsa.keyId }, claims(rsa), rsa.privateKey), rsa);
    await accepted(jws({ alg: 'PS256', kid: rsa.keyId }, claims(rsa), rsa.privateKey), rsa);
  });

  it('refuses a PS256 signature whose salt is not as long as the hash', async () =>
    refused(jws({ alg: 'PS256', kid: rsa.keyId }, claims(rsa), rsa.privateKey, 'pss20'), rsa, /signature does not verify/));

  it('refuses an ES256 header on an RSA credential', async () =>
    refused(jws({ alg: 'ES256', kid: rsa.keyId }, claims(rsa), ec.privateKey), rsa, /algorithm does not match the credential key/));

  it('refuses an RS256 header on an EC credential', async () =>
    refused(jws({ alg: 'RS256', kid: ec.keyId }, claims(ec), otherRsa), ec, /algorithm does not match the credential key/));

  it('refuses an RS256 signature under a PS256 header', async () => {
    const [h, p] = [b64({ alg: 'PS256', kid: rsa.keyId }), b64(claims(rsa))];
    const pkcs1 = sign('sha256', Buffer.from(`${h}.${p}`), { key: rsa.privateKey, padding: constants.RSA_PKCS1_PADDING }).toString('base64url');
    await refused(`${h}.${p}.${pkcs1}`, rsa, /signature does not verify/);
  });

  it('refuses alg none with an empty signature', async () => refused(`${b64({ alg: 'none', kid: ec.keyId })}.${b64(claims(ec))}.`, ec, /algorithm is not allowed/));

  it('refuses a tampered payload under the original signature', async () => {
    const [h, , s] = es().split('.');
    await refused(`${h}.${b64(claims(ec, { exp: now() + 900 }))}.${s}`, ec, /signature does not verify/);
  });

  it('refuses an ES256 signature in DER instead of r || s', async () => refused(es({}, {}, 'der'), ec, /signature does not verify/));

  it('refuses an assertion expired beyond the 5 minute skew, and accepts one within it', async () => {
    await refused(es({ iat: now() - 1000, exp: now() - 300 }), ec, /client_assertion has expired/);
    await accepted(es({ iat: now() - 1000, exp: now() - 299 }), ec);
  });

  it('refuses an nbf beyond the 5 minute skew, and accepts one within it', async () => {
    await refused(es({ nbf: now() + 301 }), ec, /claim "nbf" is invalid \(check_failed\)/);
    await refused(es({ nbf: String(now()) }), ec, /claim "nbf" is invalid \(invalid\)/);
    await accepted(es({ nbf: now() + 300 }), ec);
  });

  it('refuses a wrong aud, as a string or an array, and accepts an array holding the token endpoint or the issuer identifier', async () => {
    await refused(es({ aud: 'https://elsewhere/token' }), ec, /claim "aud" is invalid \(check_failed\)/);
    await refused(es({ aud: ['https://elsewhere/token'] }), ec, /claim "aud" is invalid \(check_failed\)/);
    await refused(es({ aud: 42 }), ec, /claim "aud" is invalid \(check_failed\)/);
    await accepted(es({ aud: ['https://elsewhere/token', `${DEFAULT_ISSUER}/${ec.tenantId}/oauth2/v2.0/token`] }), ec);
    await accepted(es({ aud: `${DEFAULT_ISSUER}/${ec.tenantId}/v2.0` }), ec);
  });

  it('refuses each missing required claim by name, and a wrong iss or sub', async () => {
    for (const claim of ['iss', 'sub', 'aud', 'jti', 'exp']) await refused(es({ [claim]: undefined }), ec, new RegExp(`claim "${claim}" is invalid \\(missing\\)`));
    await refused(es({ iss: 'someone-else' }), ec, /claim "iss" is invalid \(check_failed\)/);
    await refused(es({ sub: 'someone-else' }), ec, /claim "sub" is invalid \(check_failed\)/);
    await refused(es({ exp: String(now() + 600) }), ec, /claim "exp" is invalid \(invalid\)/);
    await refused(es({ iat: 'yesterday' }), ec, /claim "iat" is invalid \(invalid\)/);
  });

  it('refuses a crit header, even one naming b64', async () => {
    await refused(es({}, { crit: ['b64'], b64: true }), ec, /"crit"/);
    await refused(es({}, { crit: ['exp'], exp: 1 }), ec, /"crit"/);
  });

  it('refuses what is not a compact JWS of strict base64url with a JSON object header and claims set', async () => {
    const good = es();
    const [h, p, s] = good.split('.');
    await refused(`${good}.x`, ec, /not a well-formed JWT/);
    await refused(`${h}.${p}`, ec, /not a well-formed JWT/);
    await refused(`${h}.${p}.${s}==`, ec, /not a well-formed JWT/);
    await refused(`${h}.${p}.${s!.slice(0, 10)}+${s!.slice(11)}`, ec, /not a well-formed JWT/);
    await refused(`${b64([{ alg: 'ES256' }])}.${p}.${s}`, ec, /not a well-formed JWT/);
    const input = `${h}.${b64('[1,2]')}`;
    await refused(`${input}.${sign('sha256', Buffer.from(input), { key: ec.privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`, ec, /not a well-formed JWT/);
  });

  it('tries a kid-less assertion against the credential whose key verifies it', async () => {
    await accepted(jws({ alg: 'ES256' }, claims(ec), ec.privateKey), ec);
    await refused(jws({ alg: 'ES256' }, claims(ec), generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey), ec, /verifies with none/);
  });

  it('passes a kid-less assertion over a credential whose key cannot verify its algorithm', async () => {
    // An RSA certificate ahead of the EC one that signed: ES256 is never tried against it.
    const both: Identity = { ...ec.identity, credentials: [...rsa.identity.credentials, ...ec.identity.credentials] };
    const credential = await verifyAssertion(jws({ alg: 'ES256' }, claims(ec), ec.privateKey), both, ctx);
    assert.equal(credential.keyId, ec.keyId);
  });
});

describe('checkAssertionAsync', () => {
  let ec: DemoWorkload;
  const clock = new ManualClock(Date.UTC(2026, 10, 26, 12));
  const ctx: AssertionContext = { issuer: DEFAULT_ISSUER, clock };
  const now = Math.floor(clock.now() / 1000);
  before(async () => {
    ec = await demoWorkload('ec');
  });
  const assertion = (header: Record<string, unknown>, jti: string): string =>
    jws({ alg: 'ES256', ...header }, { iss: ec.clientId, sub: ec.clientId, aud: `${DEFAULT_ISSUER}/${ec.tenantId}/oauth2/v2.0/token`, iat: now, exp: now + 600, jti }, ec.privateKey);

  /** Runs `body` with node:crypto's verify counted by form (with a callback or without), the real verify doing the work. */
  async function countingVerify(body: () => Promise<void>): Promise<{ callback: number; sync: number }> {
    const mod = crypto as unknown as { verify: (...args: unknown[]) => unknown };
    const real = mod.verify;
    const counts = { callback: 0, sync: 0 };
    mod.verify = (...args: unknown[]): unknown => {
      if (typeof args[4] === 'function') counts.callback += 1;
      else counts.sync += 1;
      return real(...args);
    };
    try {
      await body();
    } finally {
      mod.verify = real;
    }
    return counts;
  }

  it('checks the signature with node:crypto verify\'s callback form (libuv\'s pool), checkAssertion with the synchronous one', async () => {
    const onPool = await countingVerify(async () => {
      await checkAssertionAsync(assertion({ kid: ec.keyId }, randomUUID()), ec.identity, ctx);
    });
    assert.deepEqual(onPool, { callback: 1, sync: 0 });
    const onThread = await countingVerify(async () => {
      checkAssertion(assertion({ kid: ec.keyId }, randomUUID()), ec.identity, ctx);
    });
    assert.deepEqual(onThread, { callback: 0, sync: 1 });
  });

  it('resolves with the claims the request uses: credential, exp, jti and the header kid, named or kid-less', async () => {
    const named = await checkAssertionAsync(assertion({ kid: ec.keyId }, 'jti-named'), ec.identity, ctx);
    assert.deepEqual({ keyId: named.credential.keyId, exp: named.exp, jti: named.jti, kid: named.kid, x5t: named.x5t }, { keyId: ec.keyId, exp: now + 600, jti: 'jti-named', kid: ec.keyId, x5t: undefined });
    const kidless = await checkAssertionAsync(assertion({}, 'jti-kidless'), ec.identity, ctx);
    assert.deepEqual({ keyId: kidless.credential.keyId, exp: kidless.exp, jti: kidless.jti, kid: kidless.kid }, { keyId: ec.keyId, exp: now + 600, jti: 'jti-kidless', kid: undefined });
  });
});
