import assert from 'node:assert/strict';
import { compactVerify, decodeProtectedHeader, importJWK } from 'jose';
import { TokenSigner, generateSigningKeyPem } from '../../../lib/token/index.js';

describe('TokenSigner.signAsync (ECDSA on the thread pool)', () => {
  it('signs a JWT that verifies with the published key, with the same header as sign() and the claims given', async () => {
    const signer = await TokenSigner.fromPem(generateSigningKeyPem(), 'regional/eastus');
    const key = await importJWK(signer.publicJwk, 'ES256');
    const claims = { sub: 'app-1', aud: 'api://r', exp: 2_000_000_000 };
    const token = await signer.signAsync(claims);
    const { payload } = await compactVerify(token, key);
    assert.deepEqual(JSON.parse(Buffer.from(payload).toString('utf8')), claims);
    assert.deepEqual(decodeProtectedHeader(token), decodeProtectedHeader(signer.sign(claims)));
    assert.deepEqual(decodeProtectedHeader(token), { alg: 'ES256', typ: 'at+jwt', kid: signer.kid });
  });

  it('keeps each of 200 concurrent signatures with its own claims', async () => {
    const signer = await TokenSigner.fromPem(generateSigningKeyPem(), 'regional/eastus');
    const key = await importJWK(signer.publicJwk, 'ES256');
    const tokens = await Promise.all(Array.from({ length: 200 }, (_, i) => signer.signAsync({ n: i })));
    for (const [i, token] of tokens.entries()) {
      const { payload } = await compactVerify(token, key);
      assert.equal(JSON.parse(Buffer.from(payload).toString('utf8')).n, i);
    }
  });
});

describe('TokenSigner.signPlaced (on the event loop while it has room, on the thread pool once it is busy)', () => {
  it('signs on the event loop while the loop has room and on the thread pool once it is busy, each a token that verifies', async () => {
    const signer = await TokenSigner.fromPem(generateSigningKeyPem(), 'regional/eastus');
    const key = await importJWK(signer.publicJwk, 'ES256');
    let busy = false;
    signer.loopLoad = { get busy() { return busy; } };
    const onLoop = await signer.signPlaced({ n: 1 });
    assert.deepEqual(signer.placed, { loop: 1, pool: 0 });
    busy = true;
    const onPool = await signer.signPlaced({ n: 2 });
    assert.deepEqual(signer.placed, { loop: 1, pool: 1 });
    for (const [token, n] of [[onLoop, 1], [onPool, 2]] as const) {
      const { payload } = await compactVerify(token, key);
      assert.equal(JSON.parse(Buffer.from(payload).toString('utf8')).n, n);
      assert.deepEqual(decodeProtectedHeader(token), { alg: 'ES256', typ: 'at+jwt', kid: signer.kid });
    }
  });
});

