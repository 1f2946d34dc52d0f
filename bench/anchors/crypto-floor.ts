import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { SignJWT, jwtVerify } from 'jose';

/** Operations per second of one ES256 primitive. */
export interface CryptoFloor {
  joseSign: number;
  nodeSign: number;
  joseVerify: number;
  nodeVerify: number;
}

const now = (): number => performance.now();

async function rate(durationMs: number, op: () => unknown, concurrency = 1): Promise<number> {
  const end = now() + durationMs;
  let n = 0;
  const start = now();
  const worker = async (): Promise<void> => {
    while (now() < end) {
      await op();
      n += 1;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return Math.round((n / (now() - start)) * 1000);
}

/**
 * ES256 sign and verify of a token-sized JWT, jose 6 (WebCrypto underneath) against raw
 * node:crypto with a KeyObject, each for `durationMs`, in this process.
 */
export async function measureCryptoFloor(durationMs: number): Promise<CryptoFloor> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const claims = { iss: 'https://login.authmesh.local/t', sub: 'c', aud: 'https://storage.authmesh.local', roles: ['Blob.Read'], jti: 'x'.repeat(36) };
  const jwt = await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: 'k' }).setIssuedAt().setExpirationTime('1h').sign(privateKey);
  const [h, p, s] = jwt.split('.') as [string, string, string];
  const input = Buffer.from(`${h}.${p}`);
  const sig = Buffer.from(s, 'base64url');
  const joseSign = await rate(durationMs, () => new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: 'k' }).sign(privateKey), 4);
  const nodeSign = await rate(durationMs, () => sign('sha256', input, { key: privateKey, dsaEncoding: 'ieee-p1363' }));
  const joseVerify = await rate(durationMs, () => jwtVerify(jwt, publicKey), 4);
  const nodeVerify = await rate(durationMs, () => verify('sha256', input, { key: publicKey, dsaEncoding: 'ieee-p1363' }, sig));
  return { joseSign, nodeSign, joseVerify, nodeVerify };
}
