import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { Metadata } from '@grpc/grpc-js';
import { BearerCheck } from '../../../lib/grpc/index.js';
import { ManualClock } from '../../../lib/clock/index.js';
import { CredentialKind } from '../../../lib/directory/index.js';
import { AssertionPolicy, DEFAULT_ISSUER, TokenSigner, generateSecret, generateSigningKeyPem, hashSecret, issueToken, verifySecret } from '../../../lib/token/index.js';
import { demoWorkload } from '../../support/memory-directory.js';

/** Counts calls of crypto.timingSafeEqual while `fn` runs (the library reads it at call time). */
async function countConstantTimeCompares(fn: () => unknown): Promise<number> {
  const original = crypto.timingSafeEqual;
  let calls = 0;
  (crypto as { timingSafeEqual: typeof original }).timingSafeEqual = (a, b) => {
    calls += 1;
    return original(a, b);
  };
  try {
    await fn();
  } finally {
    (crypto as { timingSafeEqual: typeof original }).timingSafeEqual = original;
  }
  return calls;
}

describe('client secrets', () => {
  it('are 256 random bits, never the same twice', () => {
    const a = generateSecret();
    const b = generateSecret();
    assert.notEqual(a, b);
    assert.match(a, /^ams_[A-Za-z0-9_-]{43}$/);
    assert.equal(Buffer.from(a.slice(4), 'base64url').length, 32);
  });

  it('hash to a different salted value each time, neither containing the secret', () => {
    const secret = generateSecret();
    const h1 = hashSecret(secret);
    const h2 = hashSecret(secret);
    assert.notEqual(h1, h2);
    for (const h of [h1, h2]) {
      const [alg, salt, digest] = h.split('$');
      assert.equal(alg, 'sha256');
      assert.equal(Buffer.from(salt!, 'base64url').length, 16);
      assert.equal(Buffer.from(digest!, 'base64url').length, 32);
      assert.ok(!h.includes(secret) && !h.includes(secret.slice(4)));
      // Not the unsalted digest either.
      assert.ok(!h.includes(crypto.createHash('sha256').update(secret).digest('base64url')));
      assert.equal(verifySecret(secret, h), true);
    }
  });

  it('verify false for a wrong secret of the same length, one character off, empty, or a malformed hash', () => {
    const secret = generateSecret();
    const stored = hashSecret(secret);
    const other = generateSecret();
    assert.equal(other.length, secret.length);
    assert.equal(verifySecret(other, stored), false);
    const last = secret.at(-1) === 'A' ? 'B' : 'A';
    assert.equal(verifySecret(`${secret.slice(0, -1)}${last}`, stored), false);
    assert.equal(verifySecret('', stored), false);
    assert.equal(verifySecret(secret, ''), false);
    assert.equal(verifySecret(secret, secret), false, 'a plaintext value in the store must never verify');
    const [, salt, digest] = stored.split('$');
    assert.equal(verifySecret(secret, `md5$${salt}$${digest}`), false);
    assert.equal(verifySecret(secret, `sha256$${salt}$${digest!.slice(0, 20)}`), false);
    assert.equal(verifySecret(secret, `sha256$${salt}$${digest}$x`), false);
  });

  it('compare in constant time (timingSafeEqual), also for a wrong secret', async () => {
    const secret = generateSecret();
    const stored = hashSecret(secret);
    assert.equal(await countConstantTimeCompares(() => assert.equal(verifySecret(generateSecret(), stored), false)), 1);
    assert.equal(await countConstantTimeCompares(() => assert.equal(verifySecret(secret, stored), true)), 1);
  });

  it('are checked against every secret credential of a client, so timing does not tell which matched', async () => {
    const w = await demoWorkload();
    const extra = [generateSecret(), generateSecret()];
    for (const [i, s] of extra.entries()) {
      w.identity.credentials.push({ keyId: `secret-extra-${i}`, kind: CredentialKind.CREDENTIAL_KIND_SECRET, publicJwkJson: '', secretHash: hashSecret(s), notBefore: 0, notAfter: 0, x5tS256: '' });
    }
    const signer = await TokenSigner.fromPem(generateSigningKeyPem(), 'global');
    const ctx = { directory: w.directory, signer, issuer: DEFAULT_ISSUER, lifetimeSeconds: 3600, refreshRatio: 0.5, assertions: new AssertionPolicy(), clock: new ManualClock() };
    const req = { tenantId: w.tenantId, clientId: w.clientId, scope: `${w.resource}/.default`, clientAssertion: '', clientAssertionType: '', clientSecret: w.secret };
    // The first credential matches; the other two are still compared.
    assert.equal(await countConstantTimeCompares(() => issueToken(req, ctx)), 3);
  });
});

describe('BearerCheck', () => {
  const md = (value: string): Metadata => {
    const m = new Metadata();
    m.set('authorization', value);
    return m;
  };

  it('refuses a token of the same length that differs in one character, and compares in constant time', async () => {
    const token = crypto.randomBytes(32).toString('base64url');
    const check = new BearerCheck([token, crypto.randomBytes(32).toString('base64url')]);
    const wrong = `${token.slice(0, -1)}${token.at(-1) === 'A' ? 'B' : 'A'}`;
    assert.equal(check.allows(md(`Bearer ${wrong}`)), false);
    // Compared with both accepted tokens, not stopping at a match or a mismatch.
    assert.equal(await countConstantTimeCompares(() => assert.equal(check.allows(md(`Bearer ${token}`)), true)), 2);
    assert.equal(await countConstantTimeCompares(() => check.allows(md(`Bearer ${wrong}`))), 2);
  });

  it('refuses a prefix, a suffix, and the token without the Bearer scheme', () => {
    const token = crypto.randomBytes(32).toString('base64url');
    const check = new BearerCheck([token]);
    for (const v of [`Bearer ${token.slice(0, -1)}`, `Bearer ${token}x`, token, `Basic ${token}`, 'Bearer ', '']) assert.equal(check.allows(md(v)), false, v);
  });
});
